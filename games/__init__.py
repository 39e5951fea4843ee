"""Shipped games: one folder per game holding its ``game.toml`` (and rules as Python)."""
