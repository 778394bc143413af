"""Tolerant reading of item JSON values: a number is a finite int or float, nothing else."""

from __future__ import annotations

import math
from typing import Any


def finite_float(value: Any) -> float | None:
    """Return a finite float, or None (bools, strings and NaN are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def pick(value: float | None, default: float) -> float:
    """``value`` when the item said it, else ``default``."""
    return default if value is None else value
