"""Same acquisition in overlapping tiles: one observation, not two.

Adjacent MGRS tiles of one datatake overlap by about 10 km. Counted apart, the overlap would
weigh twice in a synthesis and count twice towards the composite's n. The items of one
acquisition are mosaicked first: per pixel, the first item (in (datetime, id) order) that
has data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt

Scalar = TypeVar("Scalar", bound=np.generic)


def acquisition_groups(keys: Sequence[str]) -> list[list[int]]:
    """Indices of the observations of each acquisition, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def merge_first_valid(
    array: npt.NDArray[Scalar], has_data: npt.NDArray[np.bool_], groups: list[list[int]]
) -> npt.NDArray[Scalar]:
    """Mosaic axis 0 of ``array`` (T, ...) group by group: first member with data wins.

    Args:
        array: per-observation values, T first; any trailing axes (bands, Y, X).
        has_data: bool (T, Y, X), where each observation has data.
        groups: from `acquisition_groups`.

    Returns:
        An array with one entry per group on axis 0, same dtype.

    """
    if all(len(g) == 1 for g in groups):
        return array
    out = np.empty((len(groups), *array.shape[1:]), dtype=array.dtype)
    extra = array.ndim - has_data.ndim  # band axes between T and (Y, X)
    for g, members in enumerate(groups):
        merged = array[members[-1]].copy()
        # Walk backwards so that earlier members overwrite later ones where they have data.
        for index in reversed(members[:-1]):
            where = has_data[index].reshape((1,) * extra + has_data.shape[1:])
            np.copyto(merged, array[index], where=np.broadcast_to(where, merged.shape))
        out[g] = merged
    return out
