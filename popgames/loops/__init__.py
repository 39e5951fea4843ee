"""The loops, generators of per-iteration records: PSRO/JPSRO (``psro``) and fictitious
cross-play (``fxp``)."""
