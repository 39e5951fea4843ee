"""The ``mean_field`` kind: finite mean-field games and their exact machinery."""
