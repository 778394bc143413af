"""In-process checks of the parts behind the routes: normalization, the store, progress."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest

from api.jobs.orders import normalize
from api.jobs.store import FINAL, MAX_ATTEMPTS, JobStatus, JobStore, QueueIsFull
from api.jobs.worker import ProgressWriter
from api.models import MosaicInputs
from api.settings import Settings
from engine.errors import InvalidParameter

BBOX = [1.30, 43.70, 1.336, 43.726]


def norm(**inputs: object) -> str:
    body = {"bbox": BBOX, "period": "2024-07", **inputs}
    return normalize(MosaicInputs.model_validate(body), Settings(),
                     today=date(2025, 1, 1)).content_hash()


@pytest.mark.parametrize("variant", [
    {"bands": ["RED", "Green"]},
    {"bbox": [v + 4e-7 for v in BBOX], "bands": ["red", "green"]},
    {"crs": 32631, "bands": ["red", "green"]},
    {"source": "demo", "bands": ["red", "green"]},
])
def test_equal_orders_spelled_differently_hash_equal(variant: dict) -> None:
    assert norm(**variant) == norm(bands=["red", "green"])


@pytest.mark.parametrize("variant", [
    {"bands": ["green", "red"]}, {"method": "median"}, {"resolution": 20},
    {"period": "2024-Q3"}, {"max_cloud": 50}, {"bbox": [1.30, 43.70, 1.337, 43.726]},
])
def test_different_orders_hash_differently(variant: dict) -> None:
    assert norm(**{"bands": ["red", "green"], **variant}) != norm(bands=["red", "green"])


def test_period_spellings_are_one_order() -> None:
    assert norm(period="2024-q3") == norm(period="2024-Q3")
    assert norm(period="2024-07-01/2024-07-31") == norm(period=" 2024-07-01/2024-07-31")


def test_period_starting_after_today_is_refused() -> None:
    with pytest.raises(InvalidParameter) as info:
        norm(period="2025-02")
    assert info.value.field == "period"


def test_store_deduplicates_and_bounds_the_queue(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    first, created = store.submit("mosaic", "h1", {}, max_queue=2)
    assert created
    same, created = store.submit("mosaic", "h1", {}, max_queue=2)
    assert (same.id, created) == (first.id, False)
    store.submit("mosaic", "h2", {}, max_queue=2)
    with pytest.raises(QueueIsFull):
        store.submit("mosaic", "h3", {}, max_queue=2)
    store.dismiss(first.id)
    again, created = store.submit("mosaic", "h1", {}, max_queue=2)
    assert created and again.id != first.id


def test_a_job_that_keeps_crashing_the_server_is_failed(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    job, _ = JobStore(path).submit("mosaic", "h", {}, max_queue=5)
    for attempt in range(1, MAX_ATTEMPTS + 2):
        store = JobStore(path)  # a new process after each crash
        queued, failed = store.recover()
        if attempt <= MAX_ATTEMPTS:
            assert queued == [job.id] and not failed
            assert store.start(job.id) is not None  # ... and it crashes while running
        else:
            assert failed == [job.id]
    final = JobStore(path).get(job.id)
    assert final is not None and final.status == "failed" and "restart" in (final.message or "")


def test_job_states_are_one_enum_through_the_store(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job, _ = store.submit("mosaic", "h", {}, max_queue=5)
    assert job.status is JobStatus.ACCEPTED
    started = store.start(job.id)
    assert started is not None and started.status is JobStatus.RUNNING
    # A running job becomes a final state, or accepted again; anything else is a bug of the
    # service (an internal error), not a client's mistake.
    with pytest.raises(ValueError, match="running"):
        store.finish(job.id, JobStatus.RUNNING, "no")
    assert store.finish(job.id, JobStatus.SUCCESSFUL, "done")
    done = store.get(job.id)
    assert done is not None and done.status is JobStatus.SUCCESSFUL and done.progress == 100
    found = store.dismiss(job.id)
    assert found is not None and found[1] is JobStatus.SUCCESSFUL
    assert found[0].status is JobStatus.DISMISSED
    assert set(FINAL) == set(JobStatus) - {JobStatus.ACCEPTED, JobStatus.RUNNING}


def test_the_api_lists_exactly_the_job_states(api: httpx.Client) -> None:
    schemas = api.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["JobStatus"]["enum"] == [s.value for s in JobStatus]


class FakeStore:
    def __init__(self) -> None:
        self.writes: list[int] = []

    def progress(self, job_id: str, progress: int, message: str) -> None:
        self.writes.append(progress)


def test_progress_writes_are_throttled() -> None:
    store = FakeStore()
    writer = ProgressWriter(store, "job", interval=3600)  # type: ignore[arg-type]
    for i in range(1000):
        writer(i / 1000, "blocks")
    assert store.writes == [5]  # the first one only, within the interval
    fast = FakeStore()
    writer = ProgressWriter(fast, "job", interval=0)  # type: ignore[arg-type]
    for i in range(1000):
        writer(i / 1000, "blocks")
    assert fast.writes == sorted(set(fast.writes))  # only when the percentage moves
    assert len(fast.writes) <= 91


def test_failures_of_the_service_are_told_from_failures_of_the_order() -> None:
    from api.jobs.store import failed_on_the_server

    assert failed_on_the_server("internal error (KeyError); it was logged")
    assert failed_on_the_server("catalogue error: cannot reach http://127.0.0.1:9/stac")
    assert failed_on_the_server("interrupted by 3 server restarts; not retried")
    assert not failed_on_the_server("no scene matches the order: none in 2020-01")
    assert not failed_on_the_server("cloud_mask: maja masks are not in this source")
    assert not failed_on_the_server(None)
