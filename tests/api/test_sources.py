"""`api.jobs.sources.resolve`: the one place an order's catalogue name is checked and resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.jobs.sources import DEMO, Source, resolve
from api.settings import Settings
from catalog.model import MaskFlavour
from engine.errors import InvalidParameter


def test_no_name_is_the_service_s_default_source() -> None:
    assert resolve(None, Settings()) == Source(DEMO, DEMO)
    assert resolve(None, Settings(source="earth-search")) == Source("earth-search",
                                                                    "earth-search")


def test_a_name_from_the_settings_is_kept_and_resolved_to_its_target() -> None:
    source = resolve("es", Settings(sources={"es": "earth-search"}))
    # The order stores (and hashes) the name; the search is given the target.
    assert (source.name, source.target) == ("es", "earth-search")
    assert source.flavour is MaskFlavour.SCL
    assert source.bands is None  # the presets carry every band


@pytest.mark.parametrize("name", ["earth-search", "/etc/passwd", "https://stac.example/v1"])
def test_a_client_names_only_what_the_settings_allow(name: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        resolve(name, Settings())
    assert info.value.field == "source"
    assert "choose from demo" in info.value.message


def test_a_client_url_is_taken_where_the_settings_allow_it() -> None:
    settings = Settings(allow_client_urls=True)
    url = "https://stac.example/v1"
    assert resolve(url, settings) == Source(url, url)
    assert resolve(url, settings).flavour is None  # known only from its items
    with pytest.raises(InvalidParameter, match="or an http"):
        resolve("/data/items.ndjson", settings)


def test_the_local_user_may_name_any_catalogue(tmp_path: Path) -> None:
    items = str(tmp_path / "items.ndjson")
    for name in ("earth-search", items, "https://stac.example/v1"):
        source = resolve(name, Settings(), local_user=True)
        assert source == Source(name, name)
        assert source.searchable(tmp_path) == name


def test_the_demo_is_known_to_lack_coastal_and_nir09() -> None:
    bands = resolve(DEMO, Settings()).bands
    assert bands is not None
    assert "red" in bands and "coastal" not in bands and "nir09" not in bands
