"""The registry of mosaicking methods.

A method is built for a period (the synthesis' date weight depends on its half window), so the
registry maps each name of the contract (`engine.contract.METHODS`, where the API and the CLI
learn the names and descriptions without importing this package) to a factory.

The methods are imported with the registry: the synthesis compiles (or loads from numba's
cache) its kernel at import, which a process should pay when it starts, not in its first build.
"""

from __future__ import annotations

from collections.abc import Callable

from engine import contract
from engine.errors import InvalidParameter
from engine.methods.base import Method
from engine.methods.composite import Composite
from engine.methods.percentile import MEDIAN, Q25
from engine.methods.synthesis import Synthesis
from engine.period import Period


def _synthesis(period: Period) -> Method:
    return Synthesis(half_window_days=period.half_window_days)


def _composite(period: Period) -> Method:
    return Composite()


def _median(period: Period) -> Method:
    return MEDIAN


def _q25(period: Period) -> Method:
    return Q25


#: Each method of the contract, by name, as a factory: the synthesis' date weight depends
#: on the period's half window.
METHODS: dict[str, Callable[[Period], Method]] = {
    "synthesis": _synthesis,
    "composite": _composite,
    "median": _median,
    "q25": _q25,
}
if METHODS.keys() != contract.METHODS.keys():  # a method added to one and not the other
    raise ImportError(f"engine.methods {sorted(METHODS)} != engine.contract "
                      f"{sorted(contract.METHODS)}")

def get_method(name: str, period: Period) -> Method:
    """The method called ``name``, built for ``period``."""
    try:
        factory = METHODS[name]
    except KeyError:
        raise InvalidParameter(
            "method", f"{name!r} is not one of {', '.join(METHODS)}"
        ) from None
    return factory(period)
