"""Processes: one process, ``mosaic``, whose ``method`` input picks the algorithm.

Design choice: one process with a ``method`` enum (the keys of `engine.contract.METHODS`)
rather than one process per method. Every method takes the same inputs and produces the same
kind of product (reflectance COGs + quality layers + a STAC item); a client writes one form
and one request; a method added to the engine registry appears in the enum with no API change;
and identical orders are recognised across methods with one hash.

Execution is asynchronous only (``async-execute``): ``POST /processes/mosaic/execution``
answers **201 Created** with a ``Location: /jobs/{jobId}`` header and the statusInfo of a new
job, written to the job store before the answer. An order identical to a job that is
accepted, running or successful (same hash of the normalized inputs) answers **200 OK** with
the same ``Location`` and that job's statusInfo: nothing is created, so 201 would be untrue.
An identical order after a failed or dismissed job creates a new job. When ``max_queue``
orders are waiting, a new order gets **429** with ``Retry-After``.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from api.jobs.orders import normalize
from api.jobs.store import QueueIsFull
from api.models import (
    Execute,
    Link,
    MosaicInputs,
    ProcessDescription,
    ProcessList,
    ProcessSummary,
    StatusInfo,
)
from api.problems import PROBLEM_RESPONSE, NoSuchProcess, QueueFull
from api.services import BaseUrl, ServicesDep, require_api_key
from api.views import COG, GEOJSON, JSON, OGC_REL, PROCESS_ID, status_info
from catalog.model import BAND_ID
from engine.contract import QUALITY

router = APIRouter(tags=["Processes"])

#: A rough wait before a full queue has room again, for Retry-After.
RETRY_AFTER_S = 10
#: A plain string (an unknown id is OGC's 404 no-such-process, not a 422), documented with the
#: one valid value so that clients and generated tests find it.
ProcessId = Annotated[str, Path(json_schema_extra={"enum": [PROCESS_ID]})]


def _summary(base: str) -> ProcessSummary:
    href = f"{base}/processes/{PROCESS_ID}"
    return ProcessSummary(
        id=PROCESS_ID,
        title="Sentinel-2 Level-3A mosaic",
        description="A cloud-free mosaic of Sentinel-2 L2A scenes over an area and a period: "
        "a WASP-style synthesis, an S2GM-style composite, or a median / first-quartile "
        "baseline (the 'method' input).",
        version="1.0.0",
        jobControlOptions=["async-execute", "dismiss"],
        outputTransmission=["reference"],
        links=[
            Link(href=href, rel="self", type=JSON, title="process description"),
            Link(href=f"{href}/execution", rel=f"{OGC_REL}/execute", type=JSON,
                 title="execute (POST)"),
        ],
    )


def _inline(schema: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref`` to ``$defs`` by their content (OGC input schemas stand alone)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


@cache
def _inputs() -> dict[str, Any]:
    schema = MosaicInputs.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    inputs = {}
    for name, prop in schema["properties"].items():
        prop = _inline(prop, defs)
        inputs[name] = {
            "title": prop.pop("title", name),
            "description": prop.pop("description", ""),
            "schema": prop,
            "minOccurs": 1 if name in required else 0,
            "maxOccurs": 1,
        }
    return inputs


@cache
def _outputs() -> dict[str, Any]:
    def link(media: str) -> dict[str, Any]:
        return {"type": "string", "format": "uri", "contentMediaType": media}

    outputs: dict[str, Any] = {
        "item": {"title": "STAC item", "description": "the product's STAC item",
                 "schema": link(GEOJSON)},
        "tilejson": {"title": "TileJSON", "description": "Web Mercator tiles of the product",
                     "schema": link(JSON)},
    }
    for band in BAND_ID:
        outputs[band] = {"title": f"{band} reflectance",
                         "description": "surface reflectance COG (int16, scale 1e-4), "
                         "when the band is ordered", "schema": link(COG)}
    quality: dict[str, tuple[str, list[str]]] = {}
    for name, layers in QUALITY.items():
        for layer in layers:
            quality.setdefault(layer.key, (layer.description, []))[1].append(name)
    for key, (description, methods) in quality.items():
        outputs[key] = {"title": key, "schema": link(COG),
                        "description": f"{description} (method {', '.join(methods)})"}
    return outputs


@router.get("/processes", response_model=ProcessList, response_model_exclude_none=True,
            summary="List the processes")
def processes(base: BaseUrl) -> ProcessList:
    """List the processes (there is one: ``mosaic``)."""
    return ProcessList(processes=[_summary(base)],
                       links=[Link(href=f"{base}/processes", rel="self", type=JSON)])


@router.get("/processes/{process_id}", response_model=ProcessDescription,
            response_model_exclude_none=True, summary="Describe a process",
            responses={404: PROBLEM_RESPONSE})
def describe(process_id: ProcessId, base: BaseUrl) -> ProcessDescription:
    """Describe a process, its inputs in JSON schema and its outputs."""
    if process_id != PROCESS_ID:
        raise NoSuchProcess(f"no process {process_id!r}; there is {PROCESS_ID!r}")
    return ProcessDescription(**_summary(base).model_dump(), inputs=_inputs(),
                              outputs=_outputs())


@router.post(
    "/processes/{process_id}/execution", response_model=StatusInfo, status_code=201,
    response_model_exclude_none=True,
    summary="Order a mosaic (asynchronous)", dependencies=[Depends(require_api_key)],
    responses={200: {"model": StatusInfo, "description": "an identical order's job"},
               **dict.fromkeys((401, 404, 422, 429), PROBLEM_RESPONSE)},
)
def execute(process_id: ProcessId, body: Execute, services: ServicesDep, base: BaseUrl,
            response: Response) -> StatusInfo:
    """Create a job for an order, or return the job of an identical one (200)."""
    if process_id != PROCESS_ID:
        raise NoSuchProcess(f"no process {process_id!r}; there is {PROCESS_ID!r}")
    order = normalize(body.inputs, services.settings)
    try:
        job, created = services.store.submit(PROCESS_ID, order.content_hash(), order.to_json(),
                                             services.settings.max_queue)
    except QueueIsFull as exc:
        raise QueueFull(f"{exc.waiting} orders are waiting already; try again later",
                        retry_after=RETRY_AFTER_S) from None
    if created:
        services.pool.submit(job.id)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"{base}/jobs/{job.id}"
    response.headers["Preference-Applied"] = "respond-async"
    return status_info(job, base)
