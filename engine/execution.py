"""Running blocks: what a block reads, how it is reduced, and the threads that run them.

A block holds every observation of a window of the output grid (`engine.blocks`). Locally,
one thread a core computes blocks in the plan's order (input tile by input tile, so that a
tile shared by neighbouring blocks is decoded once, `engine.blocking`) and hands each to a
`BlockSink`, which places it in the writer's cells. A part of a large order runs the same
way on a worker (`engine.part_tasks`); on a cluster without parts, each block is a dask task
(`engine.pipeline.result_array`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from catalog.model import MaskFlavour
from engine.blocking import Reblocker, Window
from engine.blocks import BlockContext, reduce_block
from engine.errors import Cancelled
from engine.load import LoadParams, announce_reads, prefetch, read
from engine.observations import maja_to_offset_dn

logger = logging.getLogger(__name__)

#: Progress callback: fraction done in [0, 1] and a short message.
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class BlockInputs:
    """What computing one block reads, and how it reduces it. Picklable, for dask workers."""

    context: BlockContext
    dn: LoadParams
    masks: LoadParams
    aot: LoadParams | None
    session: str


def compute_block(inputs: BlockInputs, window: Window) -> np.ndarray:
    """Pass 2 on one block: read its inputs and reduce them, (L, rows, cols) float32."""
    session = inputs.session
    dn = read(inputs.dn, session, window)
    if inputs.context.flavour is MaskFlavour.MAJA:
        dn = maja_to_offset_dn(dn)
    masks = read(inputs.masks, session, window, halo=inputs.context.overlap)
    aot = read(inputs.aot, session, window) if inputs.aot is not None else None
    r0, r1, c0, c1 = window
    location = {0: {"array-location": [(0, dn.shape[0]), (0, dn.shape[1]), (r0, r1), (c0, c1)]}}
    return reduce_block(dn, masks, aot, inputs.context, location)


def prefetch_block(inputs: BlockInputs, window: Window) -> None:
    """Start the reads of `compute_block` on ``window``, without waiting for them."""
    prefetch(inputs.dn, inputs.session, window)
    prefetch(inputs.masks, inputs.session, window, halo=inputs.context.overlap)
    if inputs.aot is not None:
        prefetch(inputs.aot, inputs.session, window)


def announce_blocks(inputs: BlockInputs, windows: Sequence[Window]) -> None:
    """Tell the session's tile cache what `compute_block` will read on ``windows``.

    Each read then lets go of its tiles (`engine.load.announce_reads`).
    """
    announce_reads(inputs.dn, windows, inputs.session)
    announce_reads(inputs.masks, windows, inputs.session, halo=inputs.context.overlap)
    if inputs.aot is not None:
        announce_reads(inputs.aot, windows, inputs.session)


class BlockSink:
    """Where computed blocks go: to the writer's cells (`Reblocker`), with progress.

    Blocks arrive from the computing threads, which also encode them and compute their
    overviews (the writer serialises only the GDAL writes). Cancellation is checked at every
    block: raising here stops the computation.
    """

    def __init__(self, reblocker: Reblocker, total: int, report: Progress,
                 cancel: threading.Event | None, offset: tuple[int, int] = (0, 0)) -> None:
        self.reblocker, self.total, self.report, self.cancel = reblocker, total, report, cancel
        #: Where the reblocker's grid starts in the order's (a part's top-left pixel).
        self.offset = offset
        self.done = 0
        self.lock = threading.Lock()

    def put(self, window: Window, block: np.ndarray) -> None:
        """Take a computed block at ``window`` of the order's grid."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled by the caller")
        r0, r1, c0, c1 = window
        dy, dx = self.offset
        self.reblocker.put((r0 - dy, r1 - dy, c0 - dx, c1 - dx), block)
        with self.lock:
            self.done += 1
            done = self.done
        self.report(done / self.total, f"{done}/{self.total} blocks")


def compute_locally(inputs: BlockInputs, windows: Sequence[Window], sink: BlockSink,
                     workers: int | None = None) -> None:
    """Blocks on this machine's cores, in the plan's order (input tile by input tile).

    One thread a core (``workers``), each reading, reducing and writing a block at a time:
    the peak is bounded by the cores, not the area. The order is what lets a tile shared by
    neighbouring blocks be decoded once (`engine.blocking`), so blocks start in it; a pool's
    queue is first in, first out.
    """
    workers = workers or max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers, thread_name_prefix="l3a-block") as pool:
        def run(index: int) -> None:
            # The block that starts when this one ends: its reads go out now, so that
            # their latency (object storage) and decoding overlap this block's reduction.
            if index + workers < len(windows):
                prefetch_block(inputs, windows[index + workers])
            sink.put(windows[index], compute_block(inputs, windows[index]))

        futures = [pool.submit(run, index) for index in range(len(windows))]
        try:
            for future in futures:
                future.result()
        finally:
            for future in futures:
                future.cancel()


def log_received(nbytes: int, count: int, what: str) -> None:
    """Say what the cluster sent this process (`l3a build --verbose`; `docs/scaling.md`)."""
    logger.info("results: %d bytes received from the cluster for %d %s", nbytes, count, what)
