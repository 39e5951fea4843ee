"""popgames.kinds.team."""
