"""The ``team_matrix`` kind: two teams of binary agents (FXP's team game)."""
