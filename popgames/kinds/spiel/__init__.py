"""The ``openspiel`` kind: OpenSpiel games on a flattened tree, exact best responses."""
