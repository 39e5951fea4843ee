"""popgames.runs."""
