"""The order's contract: light to import, and the one description of what the engine does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine import contract
from engine.methods import METHODS, get_method
from engine.methods.base import ObsClass
from engine.methods.composite import CompositeMethod
from engine.period import parse_period


def imported_by(code: str) -> set[str]:
    done = subprocess.run([sys.executable, "-c", f"{code}; import sys, json; "
                           "print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout))


HEAVY = {"numpy", "dask", "numba", "xarray", "scipy", "stackstac", "engine.pipeline",
         "engine.methods", "engine.load"}


def test_the_contract_and_the_order_models_import_no_numpy_dask_nor_numba() -> None:
    modules = imported_by("import engine.contract, engine.masks.chain, api.models")
    assert "engine.contract" in modules
    assert not HEAVY & modules


def test_the_web_service_learns_the_methods_without_loading_the_engine() -> None:
    # titiler brings numpy and xarray; what it must not bring is the engine's compute stack:
    # dask, numba's kernels, the loader (issue 15: the web process compiled kernels to learn
    # the band list).
    modules = imported_by("import api.app")
    assert "api.app" in modules
    assert not {"dask", "numba", "stackstac", "engine.pipeline", "engine.methods",
                "engine.load", "engine.masks.cnn"} & modules


def test_every_method_of_the_contract_is_built_by_the_engine_as_described() -> None:
    assert list(METHODS) == list(contract.METHODS)
    assert contract.DEFAULT_METHOD in contract.METHODS
    period = parse_period("2024-07")
    for name, description in contract.METHODS.items():
        method = get_method(name, period)
        assert method.name == name
        assert method.description == description
        assert method.quality == contract.QUALITY[name]


@pytest.mark.parametrize(("method", "layer", "codes"), [
    ("synthesis", "flag", {int(c): c.name.lower() for c in ObsClass}),
    ("composite", "method", {int(c): c.name.lower() for c in CompositeMethod}),
])
def test_the_classes_of_a_quality_layer_are_the_engine_s_own_codes(
        method: str, layer: str, codes: dict[int, str]) -> None:
    (defined,) = (q for q in contract.QUALITY[method] if q.key == layer)
    assert defined.classes == codes


def test_a_categorical_layer_must_describe_each_class() -> None:
    with pytest.raises(ValueError, match="descriptions of \\[1\\]"):
        contract.QualityLayer("flag", "uint8", None, "x", classes={0: "a", 1: "b"},
                              class_descriptions={1: "only b"})
