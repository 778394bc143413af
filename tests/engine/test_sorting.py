"""The sorting network behind the percentiles: it must sort any column of any length."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.methods.sorting import batcher_network, sort_columns


@pytest.mark.parametrize("n", range(1, 13))
def test_network_sorts_every_zero_one_column(n: int) -> None:
    # The 0-1 principle (Knuth 5.3.4): a comparator network that sorts every sequence of 0
    # and 1 sorts every sequence. 2^n columns cover them all.
    columns = np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.uint8)
    columns = np.ascontiguousarray(columns.reshape(-1, n).T)  # (n, 2^n)
    expected = np.sort(columns, axis=0)
    sort_columns(columns)
    np.testing.assert_array_equal(columns, expected)


def test_no_or_one_value_per_column_is_left_as_is() -> None:
    for n in (0, 1):
        values = np.arange(n * 5).reshape(n, 5)
        sort_columns(values)
        np.testing.assert_array_equal(values, np.arange(n * 5).reshape(n, 5))


def test_network_sizes_are_batchers() -> None:
    # Known sizes of Batcher's odd-even merge sort: n = 2^k gives (k^2 - k + 4) 2^(k-2) - 1.
    for k in range(1, 7):
        assert len(batcher_network(2 ** k)) == (k * k - k + 4) * 2 ** (k - 2) - 1
    assert all(i < j for i, j in batcher_network(12))
    assert len(batcher_network(12)) == 42


@pytest.mark.parametrize("n", [2, 7, 12, 37, 100])
def test_network_sorts_random_integers_across_strips(n: int) -> None:
    rng = np.random.default_rng(n)
    values = rng.integers(0, 20, (n, 1001)).astype(np.uint16)
    values[rng.random(values.shape) < 0.2] = np.iinfo(np.uint16).max  # "invalid" sentinels
    expected = np.sort(values, axis=0)
    sort_columns(values, strip=64)  # 1001 pixels: 15 full strips and a partial one
    np.testing.assert_array_equal(values, expected)


def test_network_sorts_floats_with_inf_last() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=(12, 500)).astype(np.float32)
    values[rng.random(values.shape) < 0.3] = np.inf
    expected = np.sort(values, axis=0)
    sort_columns(values)
    np.testing.assert_array_equal(values, expected)
    assert np.isinf(values[-1]).sum() == (np.isinf(values).any(axis=0)).sum()


def test_sort_columns_rejects_other_shapes() -> None:
    with pytest.raises(ValueError, match="pixels"):
        sort_columns(np.zeros((2, 3, 4)))
