"""popgames.kinds."""
