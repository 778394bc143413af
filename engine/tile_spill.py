"""A scratch file for decoded tiles the tile cache cannot hold in memory but will serve again.

A long period makes a tile position's stack of tiles larger than the cache: 92 dates of 11
assets in 512 px uint16 tiles are 530 MB, 150 dates of Earth Search's 1024 px tiles over
3 GB. Every block on that position reads the whole stack, so a tile dropped from memory was
decoded again (36 % of an annual order's tiles, measured). Writing it to a local file and
reading it back costs a copy through the page cache, several times cheaper than inflating
it again, and keeps the process's memory where the cache's budget puts it.

One anonymous file a process (`tempfile.TemporaryFile`: unlinked at once, so the system
frees it when the process ends, however it ends); tiles go at offsets, and a freed slot is
reused by the next tile of the same size. Callers serialize `reserve` and `free`; `write`
and `read` are positioned I/O, safe from any thread.
"""

from __future__ import annotations

import os
import tempfile
from typing import IO, Any

import numpy as np
import numpy.typing as npt


class TileSpill:
    """Slots for tiles in a scratch file, at most ``limit`` bytes in use.

    The file is made in ``directory`` (None: the system's temporary directory) on first use.
    """

    def __init__(self, directory: str | None, limit: int) -> None:
        self.directory, self.limit = directory, limit
        self._file: IO[bytes] | None = None
        self._free: dict[int, list[int]] = {}
        self._end = 0
        self._used = 0

    @property
    def used(self) -> int:
        """Bytes of tiles held."""
        return self._used

    def reserve(self, nbytes: int) -> int | None:
        """The offset of a slot of ``nbytes``, or None when the limit would be passed."""
        if self._used + nbytes > self.limit:
            return None
        if self._file is None:
            # Held for the process's life, not a ``with`` block: the system frees it at exit.
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="l3a-tiles-", dir=self.directory)
        self._used += nbytes
        slots = self._free.get(nbytes)
        if slots:
            return slots.pop()
        offset, self._end = self._end, self._end + nbytes
        return offset

    def free(self, offset: int, nbytes: int) -> None:
        """Give a slot back; when none is in use, the file shrinks to nothing."""
        self._used -= nbytes
        if self._used == 0 and self._file is not None:
            self._file.truncate(0)
            self._free.clear()
            self._end = 0
        else:
            self._free.setdefault(nbytes, []).append(offset)

    def write(self, offset: int, tile: npt.NDArray[Any]) -> None:
        """Store ``tile`` (C-contiguous) in its reserved slot."""
        assert self._file is not None, "write before reserve"
        view = np.ascontiguousarray(tile).data.cast("B")
        done = 0
        while done < len(view):
            done += os.pwrite(self._file.fileno(), view[done:], offset + done)

    def read(self, offset: int, shape: tuple[int, ...], dtype: np.dtype[Any],
             out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
        """The tile stored at ``offset``, in ``out`` if given (of that shape and dtype)."""
        assert self._file is not None, "read before reserve"
        tile = np.empty(shape, dtype) if out is None else out
        view = tile.data.cast("B")
        done = 0
        while done < len(view):
            got = os.preadv(self._file.fileno(), [view[done:]], offset + done)
            if got == 0:
                raise OSError(f"tile spill file ends at {offset + done}")
            done += got
        return tile
