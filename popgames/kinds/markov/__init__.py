"""The ``markov`` kind: batched Markov games in torch, their rules files, the PPO oracle."""
