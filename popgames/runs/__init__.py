"""Runs: the one command-line driver, run folders with atomic checkpoints, and the solve command."""
