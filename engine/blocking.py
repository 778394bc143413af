"""Where the blocks of an order go, and in which order they are computed: on the inputs' tiles.

A block that cuts an input tile makes the tile shared by two to four blocks, each needing the
whole tile decoded. Blocks here start on the input tile lattice instead (a user's bbox is
never aligned with it), so a block touches whole tiles only, and they run tile by tile
(largest tiles first: Earth Search's 20 m tiles cover 2048 output pixels, its 10 m tiles
1024), so that the tiles a block shares with the next stay in the reader's cache for the
few blocks that need them. The product's files keep their own block grid: `Reblocker`
gathers computed blocks into the writer's cells.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog.model import Grid
from engine.source_info import SourceInfo

#: A block of the output grid: (row start, row stop, column start, column stop).
Window = tuple[int, int, int, int]


@dataclass(frozen=True)
class Lattice:
    """An input tile lattice seen on the output grid: origin (row, col) and tile sizes."""

    origin: tuple[float, float]
    #: Tile sides in output pixels, of every input resolution, largest first.
    tiles: tuple[float, ...]


def lattice_of(infos: Iterable[SourceInfo], grid: Grid) -> Lattice | None:
    """The tile lattice of inputs on the output's CRS and pixel grid, or None.

    The origin is the first input's; only inputs sharing it (the bands of one MGRS tile, at
    10, 20 or 60 m) add their tile sizes.
    """
    origin: tuple[float, float] | None = None
    tiles: set[float] = set()
    a, _, c, _, e, f = grid.transform
    for info in infos:
        ia, _, ic, _, ie, i_f = info.transform
        if info.epsg != grid.epsg or ia != a * round(ia / a) or ia <= 0 or ie >= 0:
            continue
        here = ((i_f - f) / e, (ic - c) / a)
        if origin is None:
            origin = here
        if not np.allclose(here, origin):
            continue
        tiles.add(info.unit[1] * ia / a)
    if origin is None:
        return None
    return Lattice(origin, tuple(sorted(tiles, reverse=True)))


def aligned_chunks(length: int, start: float, step: int) -> tuple[int, ...]:
    """Chunks of an axis of ``length`` pixels whose boundaries fall on ``start + k step``."""
    first = round(start) % step or step
    sizes = [min(first, length)]
    while sum(sizes) < length:
        sizes.append(min(step, length - sum(sizes)))
    return tuple(sizes)


@dataclass(frozen=True)
class Blocks:
    """The blocks of an order: chunks along rows and columns, and the order to compute them."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]
    #: Block indices (row, col) in computing order.
    order: tuple[tuple[int, int], ...]
    #: The block side asked for; blocks are smaller only at the grid's edges.
    step: int

    def windows(self, offset: tuple[int, int] = (0, 0)) -> list[Window]:
        """Every block's window, in computing order, moved by ``offset`` (rows, columns)."""
        row_starts = np.cumsum((offset[0], *self.rows))
        col_starts = np.cumsum((offset[1], *self.cols))
        return [(int(row_starts[i]), int(row_starts[i + 1]), int(col_starts[j]),
                 int(col_starts[j + 1])) for i, j in self.order]


def plan_blocks(grid: Grid, chunk: int, lattice: Lattice | None) -> Blocks:
    """Blocks of at most ``chunk`` pixels, on the input lattice when there is one."""
    height, width = grid.shape
    if lattice is None:
        rows, cols = aligned_chunks(height, 0, chunk), aligned_chunks(width, 0, chunk)
        order = tuple((i, j) for i in range(len(rows)) for j in range(len(cols)))
        return Blocks(rows, cols, order, chunk)
    rows = aligned_chunks(height, lattice.origin[0], chunk)
    cols = aligned_chunks(width, lattice.origin[1], chunk)
    row_starts, col_starts = np.cumsum((0, *rows[:-1])), np.cumsum((0, *cols[:-1]))

    def key(index: tuple[int, int]) -> tuple[int, ...]:
        # The tile of every size the block lies in, largest first, then the block itself.
        i, j = index
        y = row_starts[i] - lattice.origin[0]
        x = col_starts[j] - lattice.origin[1]
        cells = [int(v // size) for size in lattice.tiles for v in (y, x)]
        return (*cells, i, j)

    indices = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    return Blocks(rows, cols, tuple(sorted(indices, key=key)), chunk)


def moved(lattice: Lattice | None, offset: tuple[int, int]) -> Lattice | None:
    """The lattice seen from a grid whose top-left pixel is ``offset`` of this one's."""
    if lattice is None:
        return None
    return Lattice((lattice.origin[0] - offset[0], lattice.origin[1] - offset[1]),
                   lattice.tiles)


class Reblocker:
    """Gathers blocks of any window into the cells of a regular grid, and hands on whole cells.

    The writer computes each cell's overviews from the cell alone, so it needs cells that
    start at multiples of its block size; computed blocks start on the input tiles. A cell
    that a block covers whole goes straight through; the others wait in memory until their
    last pixel arrives. Thread-safe.
    """

    def __init__(self, shape: tuple[int, int], cell: int, layers: int,
                 write: Callable[[slice, slice, npt.NDArray[np.float32]], None]) -> None:
        self.shape, self.cell, self.layers, self.write = shape, cell, layers, write
        self._partial: dict[tuple[int, int], tuple[npt.NDArray[np.float32], list[int]]] = {}
        self._lock = threading.Lock()

    def _cell_window(self, ci: int, cj: int) -> Window:
        r0, c0 = ci * self.cell, cj * self.cell
        return (r0, min(r0 + self.cell, self.shape[0]), c0, min(c0 + self.cell, self.shape[1]))

    def put(self, window: Window, block: npt.NDArray[np.float32]) -> None:
        """Take a computed block (layers, rows, cols) at ``window``."""
        r0, r1, c0, c1 = window
        for ci in range(r0 // self.cell, -(-r1 // self.cell)):
            for cj in range(c0 // self.cell, -(-c1 // self.cell)):
                self._put_cell(ci, cj, window, block)

    def _put_cell(self, ci: int, cj: int, window: Window,
                  block: npt.NDArray[np.float32]) -> None:
        r0, r1, c0, c1 = window
        y0, y1, x0, x1 = self._cell_window(ci, cj)
        top, bottom, left, right = max(r0, y0), min(r1, y1), max(c0, x0), min(c1, x1)
        part = block[:, top - r0:bottom - r0, left - c0:right - c0]
        if (top, bottom, left, right) == (y0, y1, x0, x1):
            self.write(slice(y0, y1), slice(x0, x1), part)
            return
        with self._lock:
            buffer, filled = self._partial.setdefault(
                (ci, cj), (np.empty((self.layers, y1 - y0, x1 - x0), np.float32), [0]))
            buffer[:, top - y0:bottom - y0, left - x0:right - x0] = part
            filled[0] += (bottom - top) * (right - left)
            complete = filled[0] == (y1 - y0) * (x1 - x0)
            if complete:
                del self._partial[(ci, cj)]
        if complete:
            self.write(slice(y0, y1), slice(x0, x1), buffer)

    @property
    def waiting(self) -> int:
        """Cells still missing pixels."""
        return len(self._partial)

