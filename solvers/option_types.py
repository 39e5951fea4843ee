"""Which option values a backend accepts, read from its keyword-only parameters' annotations.

The registry (:func:`popgames.solvers.registry.check_options`) holds every option a game
card or a call gives to the annotation of each backend parameter of that name:
:func:`conforms` says whether the value fits and :func:`describe` words the annotation for
the error message. Numbers, strings, booleans, ``None``, ``Literal[...]`` and unions of
these are checked; other annotations (arrays, sequences) are left to the backend.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal, Union

import numpy as np


def conforms(value: Any, kind: Any) -> bool:
    """Whether ``value`` (as read from TOML or given in code) fits the annotation ``kind``.

    Annotations other than numbers, strings, booleans, ``None``, literals and their
    unions (arrays, sequences) are left to the backend.
    """
    origin = typing.get_origin(kind)
    if origin is Literal:
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(kind))
    if origin in (Union, types.UnionType):
        return any(conforms(value, k) for k in typing.get_args(kind))
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, (bool, np.bool_))
    if kind is int:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if kind is float:
        return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind is str:
        return isinstance(value, str)
    return True


def describe(kind: Any) -> str:
    """The annotation ``kind`` in words, e.g. ``"one of 'vertex', 'max_entropy'"``."""
    origin = typing.get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(kind))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(k) for k in typing.get_args(kind))
    return {bool: "true or false", int: "an integer", float: "a finite number", str: "a string",
            type(None): "nothing"}.get(kind, str(kind))
