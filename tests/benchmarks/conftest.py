"""Benchmarks run only on request: ``pytest tests/benchmarks --run-benchmarks -s``."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-benchmarks", action="store_true", default=False,
                     help="run the speed and memory benchmarks in tests/benchmarks")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The option exists only when this conftest is loaded at start-up (pytest tests/benchmarks).
    if config.getoption("--run-benchmarks", default=False):
        return
    skip = pytest.mark.skip(reason="benchmark: run with --run-benchmarks")
    for item in items:
        if "benchmark" in item.keywords:
            item.add_marker(skip)
