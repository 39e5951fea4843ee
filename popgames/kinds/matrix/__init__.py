"""The ``matrix`` kind: normal-form games and their exact oracle."""
