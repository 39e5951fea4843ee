"""popgames.loops.fxp."""
