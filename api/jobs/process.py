"""One build in a child process, driven like a function call from a worker thread.

Why a process: the engine's reads, reductions and COG writing hold the GIL for part of the
time and keep both cores busy; in the server's process they made every HTTP answer wait
(measured: order p99 over 300 ms while a job computed). A child process also contains a
crash of a native library to the job that caused it.

The child gets the order and the normalized items (picklable frozen dataclasses), reports
progress through a queue and is cancelled through a shared event that `build_product` polls
between blocks. It dies with the server (``PR_SET_PDEATHSIG``): after a kill -9 of the server
no orphan goes on to publish a product that the restarted server builds again.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from catalog.errors import CatalogError
from catalog.model import NormalizedItem
from engine.contract import Order
from engine.errors import Cancelled, EngineError, NoObservations

#: Seconds between two looks at the child when it sends nothing.
POLL_S = 0.2
#: Seconds a cancelled build has to stop at a block boundary before its process is
#: terminated (SIGTERM), and then killed: a block stuck in a read, or one that takes
#: minutes, must not keep a dismissed job, and its worker, busy.
CANCEL_GRACE_S = 10.0
#: Seconds between SIGTERM and SIGKILL.
KILL_AFTER_S = 5.0
_PR_SET_PDEATHSIG = 1

# Errors the child sends back by name, re-raised as themselves in the parent.
_KNOWN: dict[str, type[Exception]] = {
    "Cancelled": Cancelled,
    "NoObservations": NoObservations,
    "EngineError": EngineError,
    "CatalogError": CatalogError,
}


class JobProcessError(RuntimeError):
    """The child failed in a way that is not one of the engine's own errors."""


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        # Without glibc (OSError) the child may outlive a killed server; nothing else to do.
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _child(order: Order, items: Sequence[NormalizedItem], out_dir: str, product_id: str,
           scheduler: str | None, gdal_options: Mapping[str, Any] | None,
           mask_cache: str | None, part_size: int | None, nice: int, messages: Any,
           cancel: Any) -> None:
    _die_with_parent()
    # Added to the server's own niceness (the job thread that starts the child runs at the
    # server's), before any thread starts: dask's and GDAL's threads inherit it.
    os.nice(nice)
    from engine.pipeline import build_product

    try:
        path = build_product(order, items, Path(out_dir), product_id=product_id,
                             scheduler=scheduler, cancel=cancel, gdal_options=gdal_options,
                             mask_cache=mask_cache, part_size=part_size,
                             progress=lambda f, m: messages.put(("progress", f, m)))
        messages.put(("done", str(path), ""))
    except (EngineError, CatalogError) as exc:  # InvalidParameter is sent as EngineError
        name = next(n for n, cls in _KNOWN.items() if isinstance(exc, cls))
        messages.put(("error", name, str(exc)))
    except BaseException as exc:  # reported, then the child ends
        messages.put(("error", type(exc).__name__, str(exc)))


def build_in_process(
    order: Order,
    items: Sequence[NormalizedItem],
    out_dir: Path,
    *,
    product_id: str,
    scheduler: str | None,
    gdal_options: Mapping[str, Any] | None,
    progress: Callable[[float, str], None],
    cancelled: Callable[[], bool],
    nice: int = 0,
    mask_cache: Path | None = None,
    part_size: int | None = None,
    cancel_grace: float = CANCEL_GRACE_S,
) -> Path:
    """Run `engine.pipeline.build_product` in a child process; same result, same errors.

    Args:
        order: what to build.
        items: the normalized items of the search.
        out_dir: the product folder to create.
        product_id: the product's id.
        scheduler: dask.distributed scheduler address, or None.
        gdal_options: GDAL options for the reads.
        progress: called with (fraction, message) as the child reports.
        cancelled: polled; when it turns true the child is asked to stop.
        nice: added to the child's niceness, so that it yields the CPU to the server.
        mask_cache: the folder of computed cloud masks, shared by builds.
        part_size: grids larger than this many pixels a side are built in parts.
        cancel_grace: seconds a cancelled child has to stop by itself before it is
            terminated, then killed; `Cancelled` is raised either way.

    Raises:
        Cancelled, NoObservations, EngineError, CatalogError: as the engine raised them.
        JobProcessError: the child failed otherwise, or died without a word.

    """
    context = mp.get_context("spawn")
    messages = context.Queue()
    cancel = context.Event()
    child = context.Process(
        target=_child, name=f"l3a-job-{product_id}", daemon=True,
        args=(order, list(items), str(out_dir), product_id, scheduler,
              dict(gdal_options) if gdal_options else None,
              str(mask_cache) if mask_cache else None, part_size, nice, messages, cancel),
    )
    child.start()
    cancelled_at: float | None = None
    try:
        while True:
            if cancelled_at is None and cancelled():
                cancel.set()
                cancelled_at = time.monotonic()
            if cancelled_at is not None and time.monotonic() - cancelled_at > cancel_grace:
                _stop(child)
                raise Cancelled("cancelled by the caller; the build's process was stopped")
            try:
                kind, first, second = messages.get(timeout=POLL_S)
            except queue.Empty:
                if not child.is_alive():
                    raise JobProcessError(
                        f"the build process ended with code {child.exitcode}") from None
                continue
            if kind == "progress":
                progress(float(first), str(second))
            elif kind == "done":
                return Path(first)
            else:
                error = _KNOWN.get(str(first))
                if error is not None:
                    raise error(str(second))
                raise JobProcessError(f"{first}: {second}")
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
            child.join()
        messages.close()


def _stop(child: Any) -> None:
    """Terminate the child (SIGTERM), then kill it if it is still there after a while."""
    child.terminate()
    child.join(timeout=KILL_AFTER_S)
    if child.is_alive():
        child.kill()
        child.join()
