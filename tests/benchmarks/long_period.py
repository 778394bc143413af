"""Long-period benchmark cases (issue 14): an annual order's time, memory and decoding.

``python -m tests.benchmarks.long_period CASE DATES [--threads 2]`` prints one JSON line:
``{"case", "dates", "observations", "seconds", "peak_rss_mib", ...}``.

The order: a year (`PERIOD`), over a bbox 78 px inside the edges of a 1024 px workload in the
plain layout (512 px tiles, every band at 10 m: ~870 px, every edge cutting input tiles),
with DATES acquisitions 4 days apart (`workload.workload`); 92 is a year of them, the number
of observations of an annual order of one MGRS tile at mid latitudes (70-150). Each block's
tile position then holds 92 x 11 tiles (530 MB): more than the tile cache, as on any
annual order.

Cases (`loader_cases`, one per process): ``floor`` (every input tile the order intersects
decoded once, rasterio, ``--threads`` threads) and the whole ``l3a build`` process for
``synthesis``, ``median`` and ``composite``, with what ``--verbose`` says it read: tiles
decoded, decoded again, spilled to disk and read back.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import resource
import subprocess
import sys
import time
from typing import Any

from tests.benchmarks import loader_cases as lc
from tests.benchmarks import workload as wl

SIZE = 1024
#: Metres between the workload's edges and the order's: 77.7 px, on no tile edge.
INSET = 777.0
PERIOD = "2024-06-20/2025-06-19"
DATES = (12, 46, 92)
CASES = ("floor", "synthesis", "median", "composite")


def ensure_workload(dates: int) -> None:
    """Generate the workload of ``dates`` in a child process (its arrays are not our peak)."""
    if wl.items_file(SIZE, n_dates=dates).exists():
        return
    subprocess.run([sys.executable, "-c", "import sys; from tests.benchmarks import workload"
                    f" as wl; wl.workload({SIZE}, n_dates=int(sys.argv[1]))", str(dates)],
                   cwd=lc.ROOT, check=True, timeout=lc.CASE_TIMEOUT)


def measure(case: str, dates: int, threads: int) -> dict[str, Any]:
    """Run ``case`` once on the workload of ``dates``; its figures."""
    ensure_workload(dates)
    items_path = wl.items_file(SIZE, n_dates=dates)
    lc.import_libraries(case)
    run = lc.Run(items_path, items_path.parent, None, wl.lonlat_bbox(SIZE, INSET), threads,
                 period=PERIOD)
    start = time.perf_counter()
    lc.CASES[case](run)
    end = time.perf_counter()
    start = run.figures.pop("started", start)  # the floor's clock starts after its plan
    usage = resource.RUSAGE_CHILDREN if case in lc.CHILD_CASES else resource.RUSAGE_SELF
    return {"case": case, "dates": dates, "threads": threads,
            "seconds": round(end - start, 3),
            "peak_rss_mib": round(resource.getrusage(usage).ru_maxrss / 1024, 1),
            **run.figures}


def main() -> None:
    """Run one case and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description="one long-period benchmark case")
    parser.add_argument("case", choices=CASES)
    parser.add_argument("dates", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    faulthandler.dump_traceback_later(lc.CASE_TIMEOUT + 60, exit=True)
    print(json.dumps(measure(args.case, args.dates, args.threads)), flush=True)


if __name__ == "__main__":
    main()
