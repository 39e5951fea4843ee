"""popgames.core."""
