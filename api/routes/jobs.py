"""Jobs (OGC API - Processes job control): list, status, results, dismissal.

``DELETE /jobs/{id}`` dismisses a job whatever its state: a queued job is never started, a
running one stops at its next block (its partial output is removed), a finished one has its
product removed. The job stays listed as ``dismissed``, so that a client polling it learns
what happened rather than meeting a 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.jobs.publish import remove_product
from api.jobs.store import Job, JobStatus, failed_on_the_server
from api.models import JobList, StatusInfo
from api.problems import (
    PROBLEM_RESPONSE,
    JobFailed,
    JobFailedOnTheServer,
    NoSuchJob,
    ResultNotReady,
)
from api.services import BaseUrl, ServicesDep, require_api_key
from api.tiles.deps import product_catalogue
from api.views import page_links, results, status_info

router = APIRouter(tags=["Jobs"])

#: Offsets beyond this are refused by validation (SQLite integers are 64-bit).
MAX_OFFSET = 1_000_000_000


def _job(services: ServicesDep, job_id: str) -> Job:
    job = services.store.get(job_id)
    if job is None:
        raise NoSuchJob(f"no job {job_id!r}")
    return job


@router.get(
    "/jobs", response_model=JobList, response_model_exclude_none=True, summary="List the jobs"
)
def list_jobs(
    services: ServicesDep,
    base: BaseUrl,
    status: Annotated[list[JobStatus] | None, Query(description="keep jobs in these states")
                      ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobList:
    """List jobs, newest first, a page at a time (``next`` / ``prev`` links)."""
    statuses = list(status or [])
    jobs, total = services.store.page(statuses, limit, offset)
    return JobList(
        jobs=[status_info(job, base) for job in jobs], numberMatched=total,
        links=page_links(base, "/jobs", {"status": statuses}, limit, offset, total),
    )


@router.get(
    "/jobs/{job_id}", response_model=StatusInfo, response_model_exclude_none=True,
    summary="Status of a job", responses={404: PROBLEM_RESPONSE},
)
def get_job(job_id: str, services: ServicesDep, base: BaseUrl) -> StatusInfo:
    """Return the status of a job: state, progress 0-100, message, timestamps."""
    return status_info(_job(services, job_id), base)


@router.get(
    "/jobs/{job_id}/results", summary="Results of a job",
    responses={200: {"description": "a link per output"}, 404: PROBLEM_RESPONSE,
               422: {**PROBLEM_RESPONSE, "description": "the job failed because of its order"},
               500: {**PROBLEM_RESPONSE, "description": "the job failed on the server"}},
)
def get_results(job_id: str, request: Request, services: ServicesDep,
                base: BaseUrl) -> dict[str, Any]:
    """Link to each output of a successful job: the COGs, the STAC item, the TileJSON."""
    job = _job(services, job_id)
    if job.status == JobStatus.FAILED:  # OGC: a failed job's results are its error, 4xx or 5xx
        failure = JobFailedOnTheServer if failed_on_the_server(job.message) else JobFailed
        raise failure(f"job {job_id!r} failed: {job.message or 'no message'}")
    if job.status != JobStatus.SUCCESSFUL or job.product_id is None:
        raise ResultNotReady(f"job {job_id!r} is {job.status}: {job.message or 'no results'}")
    return results(product_catalogue(request).get(job.product_id).item, base)


@router.delete(
    "/jobs/{job_id}", response_model=StatusInfo, response_model_exclude_none=True,
    summary="Dismiss a job", dependencies=[Depends(require_api_key)],
    responses={401: PROBLEM_RESPONSE, 404: PROBLEM_RESPONSE},
)
def dismiss(job_id: str, services: ServicesDep, base: BaseUrl) -> StatusInfo:
    """Cancel a queued or running job, or remove a finished job's product."""
    found = services.store.dismiss(job_id)
    if found is None:
        raise NoSuchJob(f"no job {job_id!r}")
    job, before = found
    # After the store: a worker that finishes now sees the job dismissed and discards.
    services.pool.cancel(job.id)
    if before == JobStatus.SUCCESSFUL and job.product_id is not None:
        remove_product(services.settings.products_dir, job.product_id)
    return status_info(job, base)
