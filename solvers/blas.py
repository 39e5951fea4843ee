"""Run OpenBLAS single-threaded around solver code made of many small dense operations.

On this project's 2-core machines, shared with other jobs, threaded OpenBLAS spin-waits
make small factorisations 10-500x slower than one thread (measured: a 400-row Cholesky
1 s vs 2 ms; 200 inverses of 200 x 200 blocks 4.4 s vs 0.35 s). Solvers whose work is
many such operations run them inside :func:`single_thread_blas`.
"""

from __future__ import annotations

import ctypes
import importlib
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run OpenBLAS single-threaded inside the block.

    Our dense systems are a few hundred rows; threaded OpenBLAS spin-waits make such
    factorisations 100-500x slower on a busy machine (measured: 1 s vs 2 ms for n=400).
    A no-op where no OpenBLAS with the usual entry points is loaded.
    """
    libs = _openblas_controls()
    before = [get() for get, _ in libs]
    for _, set_threads in libs:
        set_threads(1)
    try:
        yield
    finally:
        for (_, set_threads), count in zip(libs, before):
            set_threads(count)


_CONTROLS: list | None = None


def _openblas_controls() -> list:
    global _CONTROLS
    if _CONTROLS is None:
        # The solvers import SciPy on first use, which may be inside this block: load
        # scipy.linalg (and with it SciPy's own OpenBLAS) now, so that the list, made once,
        # holds it next to NumPy's.
        importlib.import_module("scipy.linalg")
        _CONTROLS = []
        try:
            with open("/proc/self/maps") as maps:
                paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""),
                                   ("openblas", "64_"), ("openblas", "")):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    _CONTROLS.append((get, put))
                    break
    return _CONTROLS
