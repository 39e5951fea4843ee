"""popgames.loops."""
