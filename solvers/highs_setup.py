"""HiGHS instances that print nothing to standard output.

From highspy 1.16 on, the first ``highspy.Highs()`` of a process writes a banner
("Running HiGHS ... Copyright ...") from C++ straight to file descriptor 1, before
any option can turn output off. That corrupts ``python -m popgames.solve --json`` and
every command's output, and cvxpy's HiGHS interface constructs its own instance, so
the banner must be spent once per process, with descriptor 1 pointing at
``/dev/null``, before HiGHS is used anywhere. :func:`silence_banner` does that;
:func:`new_highs` calls it and returns an instance with logging off. Code that
hands a problem to HiGHS through cvxpy calls :func:`silence_banner` first.
Importing :mod:`highspy` (or cvxpy) prints nothing, so both functions import it on
first use and importing this module stays cheap.

No instance sets ``threads``: HiGHS keeps one thread scheduler per process, and an
instance asking for a thread count other than the one the scheduler started with (say
``threads=1`` after cvxpy's MILP started it with the default) fails every ``run()``
with status "Not Set". The simplex solves here are serial either way.
"""

from __future__ import annotations

import ctypes
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import highspy

_done = False


def _flush_c_stdio() -> None:
    # The banner may sit in C's stdout buffer (fully buffered when stdout is a pipe); it
    # must reach /dev/null before descriptor 1 is restored.
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C runtime to load by that name (not POSIX)
        pass


def silence_banner() -> None:
    """Construct this process's first HiGHS instance with stdout sent to ``/dev/null``.

    Idempotent and cheap after the first call (one ``Highs()`` costs about 0.2 ms).
    """
    global _done
    if _done:
        return
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        highspy.Highs()
        _flush_c_stdio()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)
    _done = True


def new_highs(**options: Any) -> highspy.Highs:
    """A ``highspy.Highs`` with ``output_flag`` off and ``options`` set (name -> value)."""
    import highspy

    silence_banner()
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    for name, value in options.items():
        highs.setOptionValue(name, value)
    return highs
