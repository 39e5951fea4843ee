"""Peer wrappers: run other projects' code beside ours in the benchmarks."""
