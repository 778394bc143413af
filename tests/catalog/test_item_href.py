"""An item's own URL (its ``self`` link) is kept, so that a product can cite its inputs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from catalog.normalize import normalize_item

ITEMS = Path(__file__).resolve().parents[1] / "data" / "stac-items"
EARTH_SEARCH = ITEMS / "earthsearch-c1" / "S2B_T38XNF_20250422T091553_L2A.json"
PLANETARY = ITEMS / "odc-stac" / "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json"


def test_a_real_earth_search_item_keeps_its_self_url() -> None:
    raw = json.loads(EARTH_SEARCH.read_text())
    assert normalize_item(raw).href == (
        "https://earth-search.aws.element84.com/v1/collections/sentinel-2-c1-l2a/items/"
        "S2B_T38XNF_20250422T091553_L2A")


def test_a_real_planetary_computer_item_keeps_its_self_url() -> None:
    raw = json.loads(PLANETARY.read_text())
    assert normalize_item(raw).href == (
        "https://planetarycomputer.microsoft.com/api/stac/v1/collections/sentinel-2-l2a/items/"
        "S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531")


def test_no_url_without_an_absolute_http_self_link() -> None:
    raw = json.loads(EARTH_SEARCH.read_text())
    relative = copy.deepcopy(raw)
    for link in relative["links"]:
        if link["rel"] == "self":
            link["href"] = "./S2B_T38XNF_20250422T091553_L2A.json"
    assert normalize_item(relative).href is None
    unlinked = {**raw, "links": [link for link in raw["links"] if link["rel"] != "self"]}
    assert normalize_item(unlinked).href is None


def test_a_local_path_is_no_url() -> None:
    raw = json.loads(EARTH_SEARCH.read_text())
    for link in raw["links"]:
        if link["rel"] == "self":
            link["href"] = "/srv/catalogue/S2B_T38XNF_20250422T091553_L2A.json"
    assert normalize_item(raw).href is None
