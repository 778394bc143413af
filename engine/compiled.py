"""Compiling the engine's few hot loops with numba: one place for how.

Each kernel is compiled for one signature when its module is imported (or loaded from numba's
cache, next to the module or in ``NUMBA_CACHE_DIR``): a build never pays for compiling, and
dask's threads never wait on one another compiling the same function. Kernels release the
GIL, so the threads of a local cluster run them in parallel, and they compile without
fast-math: floating-point operations run in the order written, as numpy would run them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba

types = numba.types


def inputs(dtype: Any, ndim: int) -> Any:
    """A C-contiguous input array type; read-only, so read-only arrays dispatch to it too."""
    return types.Array(dtype, ndim, "C", readonly=True)


def outputs(dtype: Any, ndim: int) -> Any:
    """A C-contiguous array the kernel writes."""
    return types.Array(dtype, ndim, "C")


def kernel(*arguments: Any) -> Callable[[Callable[..., None]], Any]:
    """Compile a function returning nothing, for these argument types, now."""
    compile_now: Callable[[Callable[..., None]], Any] = numba.njit(
        types.void(*arguments), nogil=True, cache=True, error_model="numpy")
    return compile_now
