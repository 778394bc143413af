"""How the composite's medoid scales with the number of observations (issue 14).

``python -m tests.benchmarks.medoid_scaling`` times `engine.methods.composite.medoid_scores`
on one chunk of the medoid (65,536 pixels, the 7 medoid bands, every observation valid) for
T = 12 ... 150 observations, best of three, and prints each time with its ratio to T = 12 and
the ratio a quadratic cost would give ((T / 12)^2): the medoid visits every pair of
observations, T (T - 1) / 2 of them, so an annual order of 150 observations costs ~155x a
monthly one of 12 per pixel, where the reading grows ~12x.
"""

from __future__ import annotations

import time

import numpy as np

from engine.methods.composite import medoid_scores

PIXELS = 1 << 16
BANDS = 7
COUNTS = (12, 24, 48, 96, 150)


def seconds(t_count: int, repeat: int = 3) -> float:
    """Best wall time of `medoid_scores` on T observations of one chunk."""
    rng = np.random.default_rng(0)
    features = rng.random((t_count, BANDS, PIXELS), dtype=np.float32) * 0.4
    valid = np.ones((t_count, PIXELS), dtype=bool)
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        medoid_scores(features, valid)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Print one line per T."""
    base = seconds(COUNTS[0])
    for t_count in COUNTS:
        took = base if t_count == COUNTS[0] else seconds(t_count)
        quadratic = (t_count * (t_count - 1)) / (COUNTS[0] * (COUNTS[0] - 1))
        print(f"T={t_count:4d}: {took * 1e3:8.1f} ms per {PIXELS} px "
              f"({took / PIXELS * 1e9:7.1f} ns/px), {took / base:6.1f}x T=12 "
              f"(pairs: {quadratic:6.1f}x)")


if __name__ == "__main__":
    main()
