"""The worker pool: jobs driven from threads, with progress and cancellation.

``settings.workers`` threads (default 1) take accepted jobs in order and run
``search -> build_product -> publish`` for each; the build itself runs in a child process
(`api.jobs.process`), so that computing never starves the threads answering HTTP. The pool
holds no state that matters: the job store does. A job whose thread dies with the process is
re-queued from the store at the next start (`JobStore.recover`).

Cancellation is cooperative: each running job has a `threading.Event`; ``DELETE /jobs/{id}``
sets it, the child process is told, and `build_product` stops between two blocks (raising
`Cancelled`, leaving nothing behind). A shutdown sets every event too, but puts the
interrupted jobs back in the queue.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from api.jobs import sources
from api.jobs.orders import NormalizedOrder
from api.jobs.publish import publish, remove_product, staging_dir
from api.jobs.store import CATALOGUE_FAILURE, INTERNAL_FAILURE, JobStatus, JobStore, now
from api.settings import Settings
from catalog.errors import CatalogError
from engine.errors import Cancelled, EngineError, NoObservations

log = logging.getLogger(__name__)

#: Share of the progress bar given to the catalogue search; the build gets the rest up to
#: 95 %, publication the last steps.
_SEARCH_PCT, _BUILD_PCT = 5, 90
#: Progress is written to the store at most this often (and only when the percentage moves):
#: the callback fires once per block, hundreds of times on a large order.
PROGRESS_INTERVAL_S = 0.5

class ProgressWriter:
    """The `build_product` progress callback of one job, throttled into the store."""

    def __init__(self, store: JobStore, job_id: str, interval: float = PROGRESS_INTERVAL_S
                 ) -> None:
        self.store, self.job_id, self.interval = store, job_id, interval
        self._last_pct = -1
        self._last_time = float("-inf")  # the first report is always written

    def percent(self, pct: int, message: str) -> None:
        """Record ``pct`` if it moved and the last write is old enough."""
        clock = time.monotonic()
        if pct <= self._last_pct or clock - self._last_time < self.interval:
            return
        self._last_pct, self._last_time = pct, clock
        self.store.progress(self.job_id, pct, message)

    def __call__(self, fraction: float, message: str) -> None:
        """Map the build's fraction in [0, 1] onto the job's 5-95 %."""
        self.percent(_SEARCH_PCT + int(_BUILD_PCT * max(0.0, min(1.0, fraction))), message)


class WorkerPool:
    """Threads running jobs from the store."""

    def __init__(self, settings: Settings, store: JobStore) -> None:
        self.settings = settings
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=settings.workers,
                                            thread_name_prefix="l3a-job")
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def submit(self, job_id: str) -> None:
        """Queue a job for a worker thread."""
        with self._lock:
            self._events.setdefault(job_id, threading.Event())
        self._executor.submit(self._run, job_id)

    def cancel(self, job_id: str) -> None:
        """Ask a queued or running job to stop (it stops at its next block)."""
        with self._lock:
            event = self._events.get(job_id)
        if event is not None:
            event.set()

    def close(self) -> None:
        """Stop taking jobs; interrupt running ones, which go back to the queue."""
        self._closing.set()
        with self._lock:
            for event in self._events.values():
                event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str) -> None:
        try:
            if not self._closing.is_set():
                self._run_job(job_id)
        except Exception:  # never let a job kill the worker thread silently
            log.exception("job %s", job_id)
        finally:
            with self._lock:
                self._events.pop(job_id, None)

    def _run_job(self, job_id: str) -> None:
        job = self.store.start(job_id)
        if job is None:  # dismissed while it waited
            return
        with self._lock:
            cancel = self._events.setdefault(job_id, threading.Event())
        order = NormalizedOrder.from_json(job.inputs)
        staging = staging_dir(self.settings.products_dir, job_id)
        status, message = JobStatus.FAILED, "internal error"
        try:
            self._build(job_id, order, staging, cancel)
            status, message = JobStatus.SUCCESSFUL, "done"
        except Cancelled:
            if self._closing.is_set():
                status = JobStatus.ACCEPTED
                message = "interrupted by a server shutdown; queued again"
            else:
                status, message = JobStatus.DISMISSED, "dismissed while running"
        except NoObservations as exc:
            status, message = JobStatus.FAILED, f"no scene matches the order: {exc}"
        except EngineError as exc:
            status, message = JobStatus.FAILED, str(exc)
        except CatalogError as exc:
            status, message = JobStatus.FAILED, f"{CATALOGUE_FAILURE}{exc}"
        except Exception as exc:
            log.exception("job %s failed", job_id)
            status = JobStatus.FAILED
            message = f"{INTERNAL_FAILURE}({type(exc).__name__}); it was logged"
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not self.store.finish(job_id, status, message) and status == JobStatus.SUCCESSFUL:
            # Dismissed between publication and now: the product must not stay.
            remove_product(self.settings.products_dir, job_id)

    def _build(self, job_id: str, order: NormalizedOrder, staging: Path,
               cancel: threading.Event) -> None:
        from api.jobs.process import build_in_process
        from catalog.search import search

        progress = ProgressWriter(self.store, job_id)
        progress.percent(1, f"searching {order.source}")
        engine_order = order.engine_order()
        start, end = engine_order.period.search_interval()
        # The stored order's source was checked when it was ordered (`api.jobs.orders.normalize`).
        source = sources.resolve(order.source, self.settings, local_user=True)
        items = search(source.searchable(self.settings.data_dir), order.bbox, start, end,
                       max_cloud=order.max_cloud)
        if cancel.is_set():
            raise Cancelled("cancelled before the build")
        staging.mkdir(parents=True, exist_ok=True)
        built = build_in_process(
            engine_order, items, staging / "product", product_id=job_id,
            scheduler=self.settings.dask_scheduler, progress=progress,
            cancelled=cancel.is_set, gdal_options=self.settings.gdal_options or None,
            nice=self.settings.build_nice, mask_cache=self.settings.masks_dir,
            part_size=self.settings.part_size,
        )
        if cancel.is_set():  # DELETE came after the last block: do not publish
            raise Cancelled("cancelled before publication")
        publish(built, self.settings.products_dir, job_id,
                {"l3a:job_id": job_id, "l3a:source": order.source, "created": now()})
