"""Ordering the demo end to end: job, progress, results, STAC item, COG, range requests."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from tests.api.support import EXECUTE, Server, order, small_bbox, wait_final

BANDS = ["nir", "red", "green"]


@pytest.fixture(scope="module")
def finished(api: httpx.Client) -> dict:
    """One small synthesis at 20 m, ordered and finished."""
    response = api.post(EXECUTE, json=order(bbox=small_bbox(0), bands=BANDS, resolution=20))
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["status"] == "accepted"
    assert response.headers["location"].endswith(f"/jobs/{job['jobID']}")
    done = wait_final(api, job["jobID"])
    assert done["status"] == "successful", done
    return done


def test_successful_job_reports_full_progress_and_times(finished: dict) -> None:
    assert finished["progress"] == 100
    assert finished["created"] <= finished["started"] <= finished["finished"]


def test_results_link_every_cog_the_item_and_the_tilejson(api: httpx.Client,
                                                          finished: dict) -> None:
    job_id = finished["jobID"]
    results = api.get(f"/jobs/{job_id}/results").json()
    assert results["tilejson"]["href"].endswith(
        f"/products/{job_id}/tiles/WebMercatorQuad/tilejson.json")
    assert results["item"]["href"].endswith(f"/products/{job_id}")
    for band in BANDS:
        assert results[band]["href"].endswith(f"/products/{job_id}/assets/{band}")


def test_ordered_bands_are_the_reflectance_assets(api: httpx.Client, server: Server,
                                                   finished: dict) -> None:
    item = api.get(f"/products/{finished['jobID']}").json()
    assert api.get(f"/products/{finished['jobID']}").headers["content-type"].startswith(
        "application/geo+json")
    reflectance = [k for k, a in item["assets"].items() if "reflectance" in a["roles"]]
    assert sorted(reflectance) == sorted(BANDS)
    assert item["properties"]["l3a:parameters"]["bands"] == BANDS  # the order as given
    for key, asset in item["assets"].items():
        assert asset["href"] == f"{server.url}/products/{item['id']}/assets/{key}"


def test_downloaded_asset_is_a_valid_cog(api: httpx.Client, finished: dict,
                                         tmp_path: Path) -> None:
    response = api.get(f"/products/{finished['jobID']}/assets/red")
    assert response.status_code == 200
    path = tmp_path / "red.tif"
    path.write_bytes(response.content)
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    with rasterio.open(path) as cog:
        assert (cog.count, cog.dtypes[0], cog.res) == (1, "int16", (20.0, 20.0))
        assert cog.crs.to_epsg() == 32631
        values = cog.read(1)
    assert (values != cog.nodata).mean() > 0.9  # a mosaic, not an empty file


def test_range_request_gets_206_and_exactly_those_bytes(api: httpx.Client,
                                                        finished: dict) -> None:
    url = f"/products/{finished['jobID']}/assets/red"
    whole = api.get(url).content
    part = api.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206
    assert len(part.content) == 100
    assert part.content == whole[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole)}"


def test_identical_order_returns_the_same_job(api: httpx.Client, finished: dict) -> None:
    # The same order spelled differently: band case, bbox noise below 1e-6 degree.
    bbox = [v + 1e-8 for v in small_bbox(0)]
    again = api.post(EXECUTE, json=order(bbox=bbox, bands=["NIR", "Red", "green"],
                                         resolution=20))
    assert again.status_code == 200
    assert again.json()["jobID"] == finished["jobID"]
    assert again.headers["location"].endswith(f"/jobs/{finished['jobID']}")


def test_products_list_is_a_stac_item_collection(api: httpx.Client, finished: dict) -> None:
    page = api.get("/products", params={"limit": 100}).json()
    assert page["type"] == "FeatureCollection"
    ids = [f["id"] for f in page["features"]]
    assert finished["jobID"] in ids
    assert page["numberReturned"] == len(ids) <= page["numberMatched"]
    created = [f["properties"]["created"] for f in page["features"]]
    assert created == sorted(created, reverse=True)  # newest first


def test_polygon_order_masks_outside_and_records_the_polygon(api: httpx.Client,
                                                             server: Server) -> None:
    w, s, e, n = small_bbox(1)
    triangle = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [w, n], [w, s]]]}
    response = api.post(EXECUTE, json=order(geometry=triangle, method="median",
                                            bands=["red"], resolution=20))
    assert response.status_code == 201, response.text
    job = wait_final(api, response.json()["jobID"])
    assert job["status"] == "successful", job
    item = api.get(f"/products/{job['jobID']}").json()
    assert item["geometry"] == triangle
    with rasterio.open(server.products / job["jobID"] / "red.tif") as cog:
        values = cog.read(1)
    empty = values == cog.nodata
    assert empty[10, -10] and not empty[-10, 10]  # near the NE corner: outside; SW: inside
    assert 0.3 < empty.mean() < 0.7


def test_order_matching_no_scene_fails_with_a_message(api: httpx.Client) -> None:
    # Valid everywhere, but the demo covers Toulouse only.
    response = api.post(EXECUTE, json=order(bbox=[10.0, 50.0, 10.03, 50.02]))
    assert response.status_code == 201
    job = wait_final(api, response.json()["jobID"])
    assert job["status"] == "failed"
    assert "no scene" in job["message"]
    # OGC API - Processes (job-results-failed): a failed job's results are its error, a 4xx
    # when the order caused it.
    results = api.get(f"/jobs/{job['jobID']}/results")
    assert results.status_code == 422
    assert results.headers["content-type"] == "application/problem+json"
    assert results.json()["title"] == "Job failed" and "no scene" in results.json()["detail"]
    assert api.get(f"/products/{job['jobID']}").status_code == 404


def test_progress_is_recorded_while_running(api: httpx.Client) -> None:
    response = api.post(EXECUTE, json=order(bbox=small_bbox(2), resolution=10,
                                            method="composite"))
    job_id = response.json()["jobID"]
    seen: list[int] = []
    job = wait_final(api, job_id, interval=0.01, on_poll=lambda j: seen.append(j["progress"]))
    assert job["status"] == "successful", job
    assert seen == sorted(seen)  # never goes back
    assert np.all(np.array(seen) <= 100)


def test_head_of_a_download_gives_its_size_and_ranges_without_a_body(
        api: httpx.Client, finished: dict) -> None:
    url = f"/products/{finished['jobID']}/assets/red"
    whole = api.get(url)
    head = api.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(whole.content))
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == whole.headers["content-type"]
    part = api.head(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == b""
    assert part.headers["content-range"] == f"bytes 0-99/{len(whole.content)}"


@pytest.mark.parametrize("path", ["/", "/processes", "/jobs", "/products",
                                  "/products/{id}", "/products/{id}/tiles/WebMercatorQuad/"
                                  "tilejson.json"])
def test_every_get_route_answers_head(api: httpx.Client, finished: dict, path: str) -> None:
    url = path.format(id=finished["jobID"])
    get, head = api.get(url), api.head(url)
    assert (head.status_code, head.content) == (get.status_code, b"")
    assert get.status_code == 200
    assert head.headers["content-type"] == get.headers["content-type"]


def test_options_and_405_list_every_method_of_a_path(api: httpx.Client,
                                                    finished: dict) -> None:
    job = f"/jobs/{finished['jobID']}"
    options = api.options(job)
    assert options.status_code == 204
    assert options.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"
    wrong = api.put(job)
    assert wrong.status_code == 405 and wrong.headers["allow"] == options.headers["allow"]
    assert api.options(EXECUTE).headers["allow"] == "OPTIONS, POST"
    assert api.get(EXECUTE).headers["allow"] == "OPTIONS, POST"


def test_gdal_reads_a_product_over_http(server: Server, finished: dict) -> None:
    # GDAL's /vsicurl sends a HEAD first; a 405 used to make it fall back to GET and, the
    # URL having no extension, probe sidecar files.
    url = f"{server.url}/products/{finished['jobID']}/assets/red"
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"), rasterio.open(url) as cog:
        assert cog.crs.to_epsg() == 32631 and cog.res == (20.0, 20.0)
        assert (cog.read(1, out_shape=(32, 32)) != cog.nodata).mean() > 0.9
