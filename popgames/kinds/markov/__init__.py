"""popgames.kinds.markov."""
