"""The parts of a large order as tasks: each computes its cloud fields, blocks and COGs.

An order larger than a part (`engine.parts`) is built part by part: a part is one task (on a
cluster, one worker thread) that computes its own cells of the cloud fields, reads and
reduces its blocks, and writes its COGs into the product's staging folder
(`engine.write.PartWriter`). What it returns to the client is a few hundred bytes: its name
and files. `engine.pipeline` plans the parts and publishes the product.
"""

from __future__ import annotations

import pickle
import queue
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog.model import Grid
from engine import cloud_weight
from engine.blocking import Blocks, Reblocker, Window
from engine.blocks import coarse_cloud_block
from engine.errors import Cancelled
from engine.execution import (
    BlockInputs,
    BlockSink,
    Progress,
    announce_blocks,
    compute_locally,
    log_received,
)
from engine.load import CLOUD_CHUNK, announce_reads, read
from engine.parts import Part
from engine.write import LayerSpec, PartWriter

if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class PartPlan:
    """One part of an order built in parts (`engine.parts`): where it is, and its blocks."""

    part: Part
    #: Blocks of the part's own grid, on the inputs' lattice as seen from the part.
    blocks: Blocks

    def windows(self) -> list[Window]:
        """The part's blocks in the order's grid, in computing order."""
        return self.blocks.windows(self.part.offset)


def part_cloud_fields(inputs: BlockInputs, window: Window, shape: tuple[int, int],
                      threads: int = 1) -> BlockInputs:
    """Pass 1 for one part: the cells of the cloud fields its blocks use, computed here.

    The cells' cloud shares are computed over the part and a margin of the blur's radius
    (`cloud_weight.FIELD_MARGIN_CELLS`, 9.6 km), then blurred: away from the order's edges
    every blurred cell the part uses sees the same cells as in a blur of the whole order, and
    at the order's edges the same padding, so the fields are the whole order's, bit for bit,
    with no (dates x cells) field of a whole country in any one process. The margin's masks
    are read twice (by this part and its neighbour): a quarter more mask reads for parts of
    8192 px. ``shape`` is the order's grid's; ``threads`` compute the shares.
    """
    ctx = inputs.context
    if not ctx.method.needs_cloud_weight:
        return inputs
    f, height, width = ctx.factor, *shape
    cells = (-(-height // f), -(-width // f))
    rows, cols = cloud_weight.crop_window(window, f, cells)
    margin = cloud_weight.FIELD_MARGIN_CELLS
    y_cells = range(max(0, rows.start - margin), min(cells[0], rows.stop + margin))
    x_cells = range(max(0, cols.start - margin), min(cells[1], cols.stop + margin))
    step = CLOUD_CHUNK // f
    pieces = [(cy, cx, (cy * f, min((cy + step) * f, y_cells.stop * f, height),
                        cx * f, min((cx + step) * f, x_cells.stop * f, width)))
              for cy in range(y_cells.start, y_cells.stop, step)
              for cx in range(x_cells.start, x_cells.stop, step)]
    announce_reads(inputs.masks, [w for _, _, w in pieces], inputs.session, halo=ctx.overlap)
    fraction = np.empty((len(ctx.groups), len(y_cells), len(x_cells)), np.float32)

    def share(cy: int, cx: int, where: Window) -> None:
        shares = coarse_cloud_block(read(inputs.masks, inputs.session, where,
                                         halo=ctx.overlap), ctx)
        y0, x0 = cy - y_cells.start, cx - x_cells.start
        fraction[:, y0:y0 + shares.shape[1], x0:x0 + shares.shape[2]] = shares

    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="l3a-cloud") as pool:
        list(pool.map(lambda piece: share(*piece), pieces))
    gs, gl = cloud_weight.blurred_cloud_fields(fraction)
    core = (slice(None), slice(rows.start - y_cells.start, rows.stop - y_cells.start),
            slice(cols.start - x_cells.start, cols.stop - x_cells.start))
    return replace(inputs, context=replace(
        ctx, gs=np.ascontiguousarray(gs[core]), gl=np.ascontiguousarray(gl[core]),
        field_origin=(rows.start, cols.start), field_cells=cells))


@dataclass(frozen=True)
class PartJob:
    """Everything a worker needs to compute and write one part.

    Picklable, and small: no cloud field (each part computes its own cells,
    `part_cloud_fields`), no pixel.
    """

    inputs: BlockInputs
    part: PartPlan
    grid: Grid  # the order's
    specs: tuple[LayerSpec, ...]
    cell: int  # the writer's cell (`ProductWriter`'s ``block``)
    folder: Path  # the product's staging folder
    #: Tell the worker's tile cache how often each tile of the part is read (on a cluster;
    #: locally the plan told the one cache of the process for every part).
    announce: bool
    #: The scheduler's event topic the part's blocks report to (on a cluster), or None.
    progress_topic: str | None = None


@dataclass(frozen=True)
class PartResult:
    """What a part sends back to the client: its name, its files, how many blocks it had."""

    id: str
    files: tuple[str, ...]
    blocks: int


def run_part(job: PartJob, threads: int = 1, report: Progress | None = None,
             cancel: threading.Event | None = None) -> PartResult:
    """Compute a part's blocks and write them as the part's COGs (`engine.write.PartWriter`).

    On a cluster this is one task, on one worker thread: the worker's other threads take
    other parts. Locally the part's blocks share the machine's cores (``threads``).
    """
    part = job.part.part
    windows = job.part.windows()
    inputs = part_cloud_fields(job.inputs, part.window, job.grid.shape, threads)
    if report is None and job.progress_topic is not None:
        report = _worker_reporter(job.progress_topic, part.id)
    if job.announce:
        announce_blocks(inputs, windows)
    with PartWriter(job.folder, part, job.grid, job.specs, block=job.cell,
                    scratch=_worker_scratch()) as writer:
        sink = BlockSink(Reblocker(part.shape, job.cell, len(job.specs), writer.write_block),
                         len(windows), report or (lambda fraction, message: None), cancel,
                         offset=part.offset)
        compute_locally(inputs, windows, sink, threads)
        files = writer.publish_part(threads)
    return PartResult(part.id, tuple(files), len(windows))


def _worker_scratch() -> Path | None:
    """The local directory of the dask worker running this task, or None (not on a worker)."""
    if "distributed" not in sys.modules:  # a local build never imports it (`_client`)
        return None
    from distributed import get_worker

    try:
        return Path(get_worker().local_directory)
    except ValueError:  # this process has no worker
        return None


def _worker_reporter(topic: str, part: str) -> Progress:
    """Report a part's blocks as events of the scheduler, which the client subscribes to."""
    from distributed import get_worker

    worker = get_worker()  # here, in the task's thread; the blocks report from others
    return lambda fraction, message: worker.log_event(topic, [part, fraction])


class PartsProgress:
    """The progress of an order in parts: the mean of its parts' shares of blocks done.

    Parts report from their threads (locally) or through the scheduler's events (on a
    cluster, in the client's event loop); what is reported never goes back.
    """

    def __init__(self, parts: Sequence[str], report: Progress) -> None:
        self.shares = dict.fromkeys(parts, 0.0)
        self.report, self.shown = report, 0.0
        self.lock = threading.Lock()

    def reporter(self, part: str) -> Progress:
        """The callback of one part's blocks (fraction of the part's blocks done)."""
        return lambda fraction, message: self.update(part, fraction)

    def update(self, part: str, fraction: float) -> None:
        """Note a part's share of blocks done; report the order's progress if it moved."""
        with self.lock:
            self.shares[part] = max(self.shares.get(part, 0.0), fraction)
            total = sum(self.shares.values()) / len(self.shares)
            if total <= self.shown:
                return
            self.shown = total
            done = sum(share >= 1.0 for share in self.shares.values())
            self.report(0.1 + 0.87 * total, f"{done}/{len(self.shares)} parts")

    def done(self, part: str) -> None:
        """A part is written (its last block is not the end of it: its COGs follow)."""
        self.update(part, 1.0)


#: A part that fails (an error, not a lost worker, which dask reschedules by itself) is run
#: again this many times before the build fails.
PART_RETRIES = 2
#: How often the client looks at the cancel flag while parts compute, in seconds.
CANCEL_POLL_S = 0.5


def parts_on_cluster(client: Client, jobs: Sequence[PartJob], cancel: threading.Event | None,
                      topic: str, progress: PartsProgress) -> Iterator[PartResult]:
    """Run the parts on the cluster's workers; yield each part's result as it ends.

    The parts' blocks report through the scheduler's events (``topic``); cancellation is
    seen within `CANCEL_POLL_S`, not only when a part ends (a part of 8192 px a side is
    minutes of work).
    """
    def on_event(event: tuple[float, Any]) -> None:
        part, fraction = event[1]
        # Below 1: a part is done when its COGs are, which its result says.
        progress.update(str(part), min(float(fraction), 0.99))

    from dask.base import tokenize  # on a cluster only: a local build does not import dask

    client.subscribe_topic(topic, on_event)
    futures = [client.submit(run_part, job, key=f"l3a-part-{job.part.part.id}-{tokenize(job)}",
                             retries=PART_RETRIES, pure=False) for job in jobs]
    ended: queue.Queue[Any] = queue.Queue()
    for future in futures:
        future.add_done_callback(ended.put)
    received = 0
    try:
        for _ in futures:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the caller")
                try:
                    future = ended.get(timeout=CANCEL_POLL_S)
                    break
                except queue.Empty:
                    continue
            result = future.result()
            received += len(pickle.dumps(result))
            future.release()
            yield result
    finally:
        client.cancel(futures)
        client.unsubscribe_topic(topic)
    log_received(received, len(jobs), "parts")
