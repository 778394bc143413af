"""The bands of an order, as the API and the CLI both read them."""

from __future__ import annotations

import pytest

from engine.contract import order_bands
from engine.errors import InvalidParameter


def test_bands_are_trimmed_lowercased_and_kept_in_order() -> None:
    assert order_bands([" NIR", "red ", "Blue"]) == ("nir", "red", "blue")


@pytest.mark.parametrize(("names", "message"), [
    ([], "unknown"), (["red", "ultraviolet"], "ultraviolet"), (["red", "RED"], "twice"),
])
def test_bad_band_lists_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message) as info:
        order_bands(names)
    assert info.value.field == "bands"
