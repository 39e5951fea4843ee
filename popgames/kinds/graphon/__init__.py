"""The ``graphon`` kind: graphon mean-field games on an agent grid (Cui & Koeppl 2022)."""
