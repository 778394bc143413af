"""The inputs stage: an order's items checked and described before anything is read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from catalog.model import NormalizedItem
from catalog.normalize import MAJA_NODATA
from engine.errors import InvalidParameter, NoObservations
from engine.methods import get_method
from engine.observations import maja_to_offset_dn, prepare
from engine.period import parse_period
from tests.benchmarks import workload as wl

BANDS = ("blue", "green", "red", "nir")
PERIOD = parse_period(wl.PERIOD)


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[NormalizedItem]:
    path = wl.workload(256, n_dates=3, bands=(*BANDS, "swir16"),
                       root=tmp_path_factory.mktemp("workload"))
    return wl.items(path, 256)


def test_items_are_ordered_and_described(items: list[NormalizedItem]) -> None:
    inputs = prepare(list(reversed(items)), PERIOD, ("red",), "scl+temporal",
                     get_method("synthesis", PERIOD))
    assert [i.datetime for i in inputs.items] == sorted(i.datetime for i in items)
    # The ordered band first, then what the temporal screen reads.
    assert inputs.bands == ("red", "blue", "nir", "swir16")
    assert inputs.scale.shape == inputs.offset.shape == (3, 4)
    np.testing.assert_allclose(inputs.scale, 1e-4)
    np.testing.assert_allclose(inputs.offset, -0.1)
    # Dates 4 days apart from 2024-06-24, all before July's central date.
    np.testing.assert_allclose(np.diff(inputs.days), [4, 4])
    assert inputs.days[0] == PERIOD.days_from_central(inputs.items[0].datetime) < -20
    assert not inputs.has_aot


def test_orders_the_items_cannot_serve_are_refused(items: list[NormalizedItem]) -> None:
    method = get_method("synthesis", PERIOD)
    with pytest.raises(InvalidParameter, match="rededge1"):
        prepare(items, PERIOD, ("rededge1",), "scl", method)
    with pytest.raises(InvalidParameter) as refused:
        prepare(items, PERIOD, ("red",), "maja", method)
    assert refused.value.field == "cloud_mask"
    maja = dataclasses.replace(items[0], masks=dataclasses.replace(
        items[0].masks, flavour=next(f for f in type(items[0].masks.flavour)
                                     if f is not items[0].masks.flavour)))
    with pytest.raises(InvalidParameter, match="mix mask flavours"):
        prepare([maja, *items[1:]], PERIOD, ("red",), "auto", method)
    with pytest.raises(NoObservations):
        prepare(items, parse_period("2023-01"), ("red",), "scl", method)


@pytest.mark.parametrize(("cloud_mask", "says"), [("scl+temporal", "temporal needs nir"),
                                                  ("scl+haze", "haze needs red")])
def test_a_chain_test_without_its_bands_is_refused(items: list[NormalizedItem], cloud_mask: str,
                                                   says: str) -> None:
    # Scenes with blue and green only: neither reflectance test can run on them.
    bare = [dataclasses.replace(i, bands={b: i.bands[b] for b in ("blue", "green")})
            for i in items]
    with pytest.raises(InvalidParameter) as refused:
        prepare(bare, PERIOD, ("green",), cloud_mask, get_method("median", PERIOD))
    assert refused.value.field == "cloud_mask" and says in refused.value.message
    # swir16 is optional for the screen: without it, it reads blue and nir only.
    without_swir = [dataclasses.replace(i, bands={b: i.bands[b] for b in BANDS}) for i in items]
    inputs = prepare(without_swir, PERIOD, ("green",), cloud_mask, get_method("median", PERIOD))
    assert "swir16" not in inputs.bands


def test_maja_dn_move_to_the_offset_form() -> None:
    dn = np.array([MAJA_NODATA, -1000, -200, 0, 1234, 32000], dtype=np.int16)
    np.testing.assert_array_equal(maja_to_offset_dn(dn), [0, 1, 800, 1000, 2234, 33000])
