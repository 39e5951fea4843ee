"""Fictitious cross-play: the loop, its state and checkpoint form, its options and learners."""
