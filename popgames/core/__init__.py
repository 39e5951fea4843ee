"""The bottom layer: errors, the protocols every layer shares, the meta-game and its regrets,
randomness and devices. Imports nothing else of popgames."""
