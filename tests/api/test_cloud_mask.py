"""The ``cloud_mask`` input: described, normalized, checked against the source, recorded."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.jobs.orders import NormalizedOrder, normalize
from api.jobs.sources import Source
from api.models import MosaicInputs
from api.settings import Settings
from catalog.model import MaskFlavour
from catalog.presets import PRESETS
from engine.errors import InvalidParameter
from engine.masks import chain
from tests.api.support import EXECUTE, Server, assert_problem, order, small_bbox, wait_final

BBOX = [1.30, 43.70, 1.336, 43.726]


def normalized(settings: Settings | None = None, **inputs: Any) -> NormalizedOrder:
    body = {"bbox": BBOX, "period": "2024-07", **inputs}
    return normalize(MosaicInputs.model_validate(body), settings or Settings(),
                     today=date(2025, 1, 1))


def stored_inputs(server: Server, job_id: str) -> dict[str, Any]:
    """The job's order as the server's job store holds it (read-only)."""
    with sqlite3.connect(f"file:{server.data_dir / 'jobs.sqlite3'}?mode=ro", uri=True) as db:
        (text,) = db.execute("SELECT inputs FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return dict(json.loads(text))


# ---------------------------------------------------------------- in process


@pytest.mark.parametrize(("spelling", "canonical"), [
    ("CNN+scl", "scl+cnn"), (" temporal + cnn ", "cnn+temporal"), ("AUTO", "auto"),
    ("Scl+Temporal+cnn", "scl+cnn+temporal"),
])
def test_spellings_of_one_chain_are_one_order(spelling: str, canonical: str) -> None:
    order = normalized(cloud_mask=spelling)
    assert order.cloud_mask == canonical
    assert order.content_hash() == normalized(cloud_mask=canonical).content_hash()
    assert order.engine_order().cloud_mask == canonical


def test_chains_are_different_orders_and_auto_is_the_default() -> None:
    assert normalized().cloud_mask == chain.DEFAULT == "auto"
    hashes = {normalized(cloud_mask=value).content_hash() for value in ("auto", "scl", "scl+cnn")}
    assert len(hashes) == 3


def test_a_stored_order_without_cloud_mask_reads_as_auto() -> None:
    # A job stored before the input existed (its JSON has no such key), e.g. re-queued.
    old = normalized().to_json()
    del old["cloud_mask"]
    order = NormalizedOrder.from_json(old)
    assert order.cloud_mask == "auto"
    assert order.engine_order().cloud_mask == "auto"
    assert order.engine_order().parameters()["cloud_mask"] == "auto"


def test_the_flavour_of_a_source_is_known_for_the_demo_and_the_presets_only() -> None:
    def flavour(target: str) -> MaskFlavour | None:
        return Source(target, target).flavour

    assert flavour("demo") is MaskFlavour.SCL
    assert {flavour(name) for name in PRESETS} == {MaskFlavour.SCL}
    assert flavour("https://example.com/stac/v1") is None
    assert flavour("/data/items.ndjson") is None


def test_a_native_mask_the_source_lacks_is_refused_before_any_search() -> None:
    settings = Settings(sources={"es": "earth-search"})
    for source in ("demo", "es"):
        with pytest.raises(InvalidParameter) as info:
            normalized(settings, source=source, cloud_mask="maja+cnn")
        assert info.value.field == "cloud_mask"
        assert "maja" in info.value.message
    assert normalized(settings, source="es", cloud_mask="cnn").cloud_mask == "cnn"


def test_an_unknown_flavour_leaves_the_check_to_the_engine() -> None:
    settings = Settings(allow_client_urls=True, sources={"file": "/data/maja.ndjson"})
    for source in ("file", "https://example.com/stac/v1"):
        assert normalized(settings, source=source, cloud_mask="MAJA").cloud_mask == "maja"


# ---------------------------------------------------------------- through the service


def test_the_process_description_lists_the_chains_and_explains_each_source(
        api: httpx.Client) -> None:
    described = api.get("/processes/mosaic").json()["inputs"]["cloud_mask"]
    assert described["schema"]["enum"] == list(chain.choices())
    assert described["schema"]["enum"][0] == described["schema"]["default"] == "auto"
    assert described["minOccurs"] == 0
    sources = dict(part.split(": ", 1) for part in
                   described["description"].split("Sources: ", 1)[1].split("; "))
    assert set(sources) == {"auto", *chain.SOURCES}
    assert chain.AUTO[MaskFlavour.SCL] in sources["auto"]
    openapi = api.get("/openapi.json").json()["components"]["schemas"]["MosaicInputs"]
    assert openapi["properties"]["cloud_mask"]["enum"] == list(chain.choices())


def test_a_chain_spelled_two_ways_is_one_job_whose_item_records_it(
        api: httpx.Client, server: Server) -> None:
    bbox = small_bbox(20)
    first = api.post(EXECUTE, json=order(bbox=bbox, bands=["red"], cloud_mask="Temporal+SCL"))
    assert first.status_code == 201, first.text
    job_id = first.json()["jobID"]
    assert stored_inputs(server, job_id)["cloud_mask"] == "scl+temporal"
    again = api.post(EXECUTE, json=order(bbox=bbox, bands=["red"], cloud_mask="scl+temporal"))
    assert again.status_code == 200
    assert again.json()["jobID"] == job_id
    other = api.post(EXECUTE, json=order(bbox=bbox, bands=["red"], cloud_mask="scl"))
    assert other.status_code == 201 and other.json()["jobID"] != job_id

    job = wait_final(api, job_id, timeout=300)
    assert job["status"] == "successful", job
    parameters = api.get(f"/products/{job_id}").json()["properties"]["l3a:parameters"]
    assert parameters["cloud_mask"] == "scl+temporal"
    on_disk = json.loads((server.products / job_id / "item.json").read_text())
    assert on_disk["properties"]["l3a:parameters"]["cloud_mask"] == "scl+temporal"
    assert wait_final(api, other.json()["jobID"], timeout=300)["status"] == "successful"


def test_an_order_without_cloud_mask_is_stored_as_auto(api: httpx.Client,
                                                        server: Server) -> None:
    body = order(bbox=small_bbox(21), bands=["red"])
    del body["inputs"]["cloud_mask"]  # the helper's scl: this order leaves it out
    response = api.post(EXECUTE, json=body)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobID"]
    assert stored_inputs(server, job_id)["cloud_mask"] == "auto"
    # Spelled out, the default is the same order.
    same = api.post(EXECUTE, json=order(bbox=small_bbox(21), bands=["red"], cloud_mask="auto"))
    assert same.json()["jobID"] == job_id
    api.delete(f"/jobs/{job_id}")  # not needed further: spare the worker


@pytest.mark.parametrize("value", [
    "fog", "scl+fog", "scl+scl", "scl+maja", "auto+cnn", "+", "", "x" * 65, 42, None,
    ["scl", "cnn"],
])
def test_a_bad_cloud_mask_is_422_naming_it(api: httpx.Client, value: Any) -> None:
    assert_problem(api.post(EXECUTE, json=order(bbox=small_bbox(22), cloud_mask=value)),
                   422, "cloud_mask")


def test_maja_on_the_sen2cor_demo_is_422_and_creates_no_job(api: httpx.Client) -> None:
    before = api.get("/jobs", params={"limit": 1}).json()["numberMatched"]
    for value in ("maja", "MAJA+cnn", "maja+cnn+temporal"):
        problem = assert_problem(api.post(EXECUTE, json=order(bbox=small_bbox(23),
                                                              cloud_mask=value)),
                                 422, "cloud_mask")
        assert "maja" in problem["detail"] and "scl" in problem["detail"]
    assert api.get("/jobs", params={"limit": 1}).json()["numberMatched"] == before


@pytest.fixture(scope="module")
def file_server(make_server: type[Server], demo: Path) -> Server:
    """A server whose catalogue ``demo-file`` is the demo's item file: flavour unknown."""
    sources = json.dumps({"demo-file": str(demo / "items.ndjson")})
    return make_server("cloud-mask-file", sources=sources).start()


def test_on_a_source_of_unknown_flavour_the_job_fails_naming_cloud_mask(
        file_server: Server) -> None:
    with file_server.client() as client:
        response = client.post(EXECUTE, json=order(bbox=small_bbox(24), source="demo-file",
                                                   cloud_mask="maja"))
        assert response.status_code == 201, response.text  # the file might be MAJA's
        job = wait_final(client, response.json()["jobID"])
    assert job["status"] == "failed"
    assert "cloud_mask" in job["message"] and "maja" in job["message"]
