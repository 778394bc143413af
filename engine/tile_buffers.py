"""Arrays of decoded tiles, used again once nobody holds them.

A build allocates and frees tiles by the thousand: an annual order of 92 dates decodes 4,048
tiles of 512 px and reads the spill back 7,424 times. glibc maps each such array on its own
and unmaps it when freed (`engine.readers` fixes its threshold so that freed tiles go back
to the system), so every new tile pays its page faults: 128 for a 512 px tile, 512 for a
1024 px one, about a third of a long build's system time. Decoding into an array that has
served already costs none.

An array is handed out again only when the pool is its last holder, which Python's
reference count tells exactly: a reader still placing it, the tile cache's entry, a view of
it, any holder at all, counts. So the pool never needs to know when the cache, the spill or
a reader is done with a tile; it is told of every tile once used (`give`) and keeps a
bounded number of them.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

#: References to a held array when the pool alone holds it: its list, the caller's name for
#: it, `_alone`'s, and `sys.getrefcount`'s own argument.
_ALONE = 4

_Kind = tuple[tuple[int, ...], np.dtype[Any]]


class TileBuffers:
    """Used arrays, ``limit`` of each shape and dtype, handed out again once unreferenced.

    Kinds are kept apart: a build's tiles come in two or three (the bands' ``uint16`` and
    the SCL's ``uint8``; the smaller tiles of an image's edges), and one kind's arrays must
    not push the others out.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[_Kind, list[npt.NDArray[Any]]] = {}
        self._lock = threading.Lock()
        #: Arrays handed out again, and arrays newly allocated (`take`).
        self.reused = 0
        self.allocated = 0

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """An array of ``shape`` and ``dtype`` nobody else holds; its values are stale."""
        with self._lock:
            held = self._held.get((shape, dtype), [])
            for i in range(len(held)):
                array = held[i]
                if _alone(array):
                    del held[i]
                    self.reused += 1
                    return array
            self.allocated += 1
        return np.empty(shape, dtype)

    def give(self, array: npt.NDArray[Any]) -> None:
        """Keep ``array`` to hand out once its other holders let it go.

        Only arrays that own their memory are kept (a view would pin its base's). Beyond
        ``limit`` of its kind, the oldest of them is let go: if something still holds it,
        it stays alive there; if not, it is freed.
        """
        if array.base is not None or not array.flags.c_contiguous or not array.flags.writeable:
            return
        with self._lock:
            held = self._held.setdefault((array.shape, array.dtype), [])
            if any(h is array for h in held):
                return
            held.append(array)
            if len(held) > self.limit:
                del held[0]

    def clear(self) -> None:
        """Let every held array go."""
        with self._lock:
            self._held.clear()


def _alone(array: npt.NDArray[Any]) -> bool:
    """Whether the pool is the last holder of ``array``, a name of its caller's."""
    return sys.getrefcount(array) == _ALONE
