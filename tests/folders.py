"""Comparing folders of files (products, demo catalogues) byte for byte."""

from __future__ import annotations

from pathlib import Path


def folder_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by path relative to it."""
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}
