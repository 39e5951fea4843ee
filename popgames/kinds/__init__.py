"""Game kinds: the registry that maps a card's ``kind`` to its record, the shared card tables,
and one subpackage per kind (``matrix``, ``team``, ``spiel``, ``markov``)."""
