"""The ``cloud_mask`` chains: spelling, the source's own mask, and ``auto``."""

from __future__ import annotations

import pytest

from catalog.model import MaskFlavour
from engine.errors import InvalidParameter
from engine.masks import chain


@pytest.mark.parametrize(("value", "flavour", "name"), [
    ("scl", MaskFlavour.SCL, "scl"),
    ("cnn", MaskFlavour.SCL, "scl+cnn"),
    ("scl+cnn", MaskFlavour.SCL, "scl+cnn"),
    (" Temporal + CNN ", MaskFlavour.SCL, "scl+cnn+temporal"),
    ("haze+temporal+cnn", MaskFlavour.SCL, "scl+cnn+temporal+haze"),
    ("haze", MaskFlavour.MAJA, "maja+haze"),
    ("temporal", MaskFlavour.MAJA, "maja+temporal"),
    ("maja", MaskFlavour.MAJA, "maja"),
])
def test_a_chain_always_holds_the_items_own_mask(value: str, flavour: MaskFlavour,
                                                 name: str) -> None:
    assert chain.resolve(value, flavour).name == name


@pytest.mark.parametrize("flavour", list(MaskFlavour))
def test_auto_is_the_measured_chain_of_the_flavour(flavour: MaskFlavour) -> None:
    resolved = chain.resolve("auto", flavour)
    assert resolved.name == chain.AUTO[flavour]
    assert resolved.flavour is flavour


@pytest.mark.parametrize(("value", "flavour", "says"), [
    ("maja", MaskFlavour.SCL, "maja masks are not in this source"),
    ("scl+temporal", MaskFlavour.MAJA, "scl masks are not in this source"),
    ("fmask", MaskFlavour.SCL, "unknown source ['fmask']"),
    ("cnn+cnn", MaskFlavour.SCL, "names a source twice"),
    ("scl+maja", MaskFlavour.SCL, "different sources"),
    ("auto+cnn", MaskFlavour.SCL, "unknown source ['auto']"),
    ("", MaskFlavour.SCL, "unknown source"),
])
def test_bad_values_name_the_field(value: str, flavour: MaskFlavour, says: str) -> None:
    with pytest.raises(InvalidParameter) as raised:
        chain.resolve(value, flavour)
    assert raised.value.field == "cloud_mask"
    assert says in str(raised.value)


def test_every_choice_is_canonical_and_resolves_for_some_flavour() -> None:
    choices = chain.choices()
    assert choices[0] == "auto"
    assert len(set(choices)) == len(choices)
    for value in choices:
        assert chain.canonical(value) == value or chain.canonical(value) in choices
        assert any(_resolves(value, f) for f in MaskFlavour)


def _resolves(value: str, flavour: MaskFlavour) -> bool:
    try:
        chain.resolve(value, flavour)
    except InvalidParameter:
        return False
    return True


def test_canonical_spelling_orders_sources_and_keeps_auto() -> None:
    assert chain.canonical("temporal+scl") == "scl+temporal"
    assert chain.canonical("CNN") == "cnn"
    assert chain.canonical("auto") == "auto"
