"""Fixtures shared by the test packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.support import ensure_demo_folder


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full demo catalogue, generated once per session (about 20 s; deterministic)."""
    return ensure_demo_folder(tmp_path_factory.mktemp("demo-catalogue"))
