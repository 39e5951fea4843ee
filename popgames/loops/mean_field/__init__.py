"""Mean-field loops: generators of per-iteration records on the exact machinery of
:mod:`popgames.kinds.mean_field.exact`."""
