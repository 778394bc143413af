"""Request and response bodies of the HTTP API (pydantic, at the boundary only).

Requests forbid unknown fields (``extra="forbid"``): a misspelled input is a 422 naming it,
not a silently ignored option. The ``method``, ``bands`` and ``cloud_mask`` enums are generated
from the engine's registries, so the OpenAPI document and ``GET /processes/mosaic`` list
exactly what the engine accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.jobs.store import JobStatus
from catalog.model import BAND_ID
from engine.contract import DEFAULT_BANDS, DEFAULT_METHOD, METHODS, RESOLUTIONS, order_bands
from engine.errors import InvalidParameter
from engine.masks import chain

_REQUEST = ConfigDict(extra="forbid", allow_inf_nan=False)

Position = Annotated[list[float], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4, max_length=10_000)]
BandName = Annotated[str, Field(json_schema_extra={"enum": list(BAND_ID)})]
#: One line per ``cloud_mask`` source (`engine.masks.chain`), for the process description.
CLOUD_MASK_SOURCES = {
    "auto": "the best chain measured for the source's mask flavour ("
    + ", ".join(f"{flavour.value} sources: {name}" for flavour, name in chain.AUTO.items())
    + ")",
    "scl": "Sen2Cor's scene classification (Sen2Cor sources only)",
    "maja": "MAJA's cloud mask (MAJA sources only)",
    "cnn": "a convolutional network's cloud and shadow mask, computed from each scene",
    "temporal": "a multi-temporal screen of each pixel's observations",
    "haze": "a haze test on each observation's blue and red (haze optimized transform)",
}


class Polygon(BaseModel):
    """A GeoJSON Polygon in lon/lat (RFC 7946): an outer ring, then optional holes."""

    model_config = _REQUEST

    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1, max_length=100)]


class MosaicInputs(BaseModel):
    """The inputs of the ``mosaic`` process. Give ``bbox`` or ``geometry``, not both."""

    model_config = _REQUEST

    bbox: Annotated[list[float], Field(min_length=4, max_length=4)] | None = Field(
        None, description="Area of interest [west, south, east, north] in degrees (WGS 84).",
        examples=[[1.30, 43.70, 1.34, 43.73]],
    )
    geometry: Polygon | None = Field(
        None, description="Area of interest as a GeoJSON Polygon (lon/lat). The product "
        "covers its bounds; the polygon is recorded in the product's STAC item and pixels "
        "outside it are set to nodata.",
    )
    period: str = Field(
        ..., min_length=1, max_length=64,
        description="YYYY-MM (month), YYYY-Qn (quarter), YYYY (year) or START/END (ISO dates).",
        examples=["2024-07"],
    )
    method: str = Field(
        DEFAULT_METHOD,
        description="Mosaicking method: " + "; ".join(f"{k}: {v}" for k, v in
                                                      METHODS.items()),
        json_schema_extra={"enum": list(METHODS)},
    )
    bands: Annotated[list[BandName], Field(min_length=1, max_length=len(BAND_ID))] = Field(
        default_factory=lambda: list(DEFAULT_BANDS),
        description="Reflectance bands by Sentinel-2 common name, in the order wanted.",
    )
    resolution: Literal[10, 20, 60] = Field(10, description="Pixel size in metres.")
    crs: int | None = Field(
        None, ge=1024, le=999_999,
        description="EPSG code of a projected CRS in metres; default: the UTM zone of the "
        "area's centre.",
    )
    source: str | None = Field(
        None, min_length=1, max_length=2048,
        description="Catalogue name (see the service settings); default: the service's.",
    )
    max_cloud: float | None = Field(
        None, ge=0, le=100, description="Skip scenes whose eo:cloud_cover exceeds this, %."
    )
    cloud_dilation: float = Field(
        0.0, ge=0, le=2000, description="Grow cloud masks by this distance, metres."
    )
    cloud_mask: str = Field(
        chain.DEFAULT, min_length=1, max_length=64,
        description="Which masks say cloud: 'auto', or mask sources joined by '+' in any order "
        "and case (the enum lists the canonical spellings). A pixel is cloud where any source "
        "of the chain says so, and the source's own mask (scl or maja) always takes part, so "
        "'cnn' alone adds the CNN to it. Sources: " + "; ".join(
            f"{k}: {v}" for k, v in CLOUD_MASK_SOURCES.items()),
        json_schema_extra={"enum": list(chain.choices())},
    )

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise ValueError(f"{value!r} is not one of {', '.join(METHODS)}")
        return value

    @field_validator("cloud_mask")
    @classmethod
    def _known_cloud_mask(cls, value: str) -> str:
        try:
            return chain.canonical(value)
        except InvalidParameter as exc:  # pydantic names the field itself
            raise ValueError(exc.message) from None

    @field_validator("bands")
    @classmethod
    def _known_bands(cls, value: list[str]) -> list[str]:
        try:
            return list(order_bands(value))
        except InvalidParameter as exc:  # pydantic names the field itself
            raise ValueError(exc.message) from None


assert set(RESOLUTIONS) == {10, 20, 60}, "update MosaicInputs.resolution with engine.contract"


class Execute(BaseModel):
    """An OGC API - Processes execute request."""

    model_config = _REQUEST

    inputs: MosaicInputs
    outputs: dict[str, Any] | None = Field(
        None, description="Accepted for OGC compatibility and ignored: every output is made "
        "and returned by reference."
    )
    response: Literal["document"] = Field(
        "document", description="Only 'document' (results as a JSON document of links)."
    )


class Link(BaseModel):
    """A web link (OGC API / STAC shape)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class StatusInfo(BaseModel):
    """The state of a job (OGC API - Processes statusInfo)."""

    processID: str = "mosaic"  # camelCase: the OGC member names
    type: Literal["process"] = "process"
    jobID: str
    status: JobStatus
    message: str | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    updated: str | None = None
    progress: int = Field(0, ge=0, le=100)
    links: list[Link] = Field(default_factory=list)


class JobList(BaseModel):
    """A page of jobs."""

    jobs: list[StatusInfo]
    numberMatched: int
    links: list[Link]


class LandingPage(BaseModel):
    """The API's landing page."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The conformance classes the API implements."""

    conformsTo: list[str]


class ProcessSummary(BaseModel):
    """A process in the process list."""

    id: str
    title: str
    description: str
    version: str
    jobControlOptions: list[str]
    outputTransmission: list[str]
    links: list[Link]


class ProcessList(BaseModel):
    """Every process the API offers."""

    processes: list[ProcessSummary]
    links: list[Link]


class ProcessDescription(ProcessSummary):
    """A process with its inputs and outputs described in JSON schema."""

    inputs: dict[str, Any]
    outputs: dict[str, Any]
