"""An annual order's memory, decoding and time against its number of observations (issue 14).

Run: ``python -m pytest tests/benchmarks/test_long_period.py --run-benchmarks -s``.

Cases are `long_period`'s: 12, 46 and 92 dates over the same ~870 px bbox, which cuts the
inputs' 512 px tiles, ordered over a year. Targets (issue 14): every build's peak at most
1 GiB whatever the number of observations; each input tile decoded once (the stack of a
tile position outgrows the tile cache from about 40 dates: the rest goes to the spill);
time linear in observations (the synthesis and the median of 92 dates take at most 2.3x
those of 46, over floors that double). The composite's medoid is quadratic in observations:
its ratio is reported, not held to the linear bound. The linear bound fails today (2.36x and
2.43x, docs/scaling.md): it says where the loader must get to. About 2 minutes here, and
2.2 GB of workloads generated once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks.long_period import CASES, DATES

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]
ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "artifacts" / "benchmarks" / "long_period.json"
GIB = 1024.0
BUILDS = ("synthesis", "median", "composite")


def run_case(case: str, dates: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "tests.benchmarks.long_period", case,
                          str(dates), "--threads", "2"],
                         cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{case}/{dates} failed: {out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


@pytest.fixture(scope="module")
def figures() -> dict[tuple[str, int], dict[str, Any]]:
    for dates in DATES:  # generate the workloads and warm the page cache, untimed
        run_case("floor", dates)
    results = {(case, dates): run_case(case, dates) for dates in DATES for case in CASES}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps([results[k] for k in sorted(results)], indent=2))
    print(f"\n{'case':<12} {'dates':>5} {'seconds':>8} {'x floor':>8} {'peak MiB':>9} "
          f"{'tiles':>6} {'again':>6} {'spilled':>8} {'read back':>9}")
    for (case, dates), fig in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        floor = results[("floor", dates)]["seconds"]
        print(f"{case:<12} {dates:>5} {fig['seconds']:8.2f} {fig['seconds'] / floor:8.2f} "
              f"{fig['peak_rss_mib']:9.0f} {fig.get('tiles_decoded', fig.get('tiles', '')):>6} "
              f"{fig.get('decoded_again', ''):>6} {fig.get('spilled', ''):>8} "
              f"{fig.get('read_back', ''):>9}")
    for case in CASES:
        grow = results[(case, DATES[-1])]["seconds"] / results[(case, DATES[-2])]["seconds"]
        print(f"{case}: {DATES[-1]} dates take {grow:.2f}x the time of {DATES[-2]}")
    return results


@pytest.mark.parametrize("dates", DATES)
@pytest.mark.parametrize("method", BUILDS)
def test_peak_memory_stays_under_1_gib(figures: dict[tuple[str, int], dict[str, Any]],
                                       method: str, dates: int) -> None:
    assert figures[(method, dates)]["peak_rss_mib"] <= GIB


@pytest.mark.parametrize("dates", DATES)
@pytest.mark.parametrize("method", BUILDS)
def test_each_input_tile_is_decoded_once(figures: dict[tuple[str, int], dict[str, Any]],
                                         method: str, dates: int) -> None:
    build, floor = figures[(method, dates)], figures[("floor", dates)]
    assert build["decoded_again"] == 0
    assert build["tiles_decoded"] == floor["tiles"]


@pytest.mark.parametrize("method", ["synthesis", "median"])
def test_time_grows_linearly_with_observations(
        figures: dict[tuple[str, int], dict[str, Any]], method: str) -> None:
    long, half = DATES[-1], DATES[-2]
    grow = figures[(method, long)]["seconds"] / figures[(method, half)]["seconds"]
    assert grow <= 2.3 * long / (2 * half)
