"""popgames.kinds.matrix."""
