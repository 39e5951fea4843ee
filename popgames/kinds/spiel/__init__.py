"""popgames.kinds.spiel."""
