"""The ``openspiel_mfg`` kind: OpenSpiel mean-field games by name, tabulated once."""
