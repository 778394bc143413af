"""One benchmark case per process, so that each peak memory is its own.

``python -m tests.benchmarks.engine_cases CASE SIZE`` prints one JSON line:
``{"case": ..., "seconds": ..., "peak_rss_mib": ...}``.

Cases:
- ``decode``: the decode floor, every input read once with rasterio, one thread per core;
- ``handwritten_mean`` / ``handwritten_median``: what users write today with stackstac and
  xarray (default float64 stack, SCL mask with ``where``, reduce over time);
- ``synthesis``, ``composite``, ``median``: l3a end to end, COGs written, with the items'
  own mask (SCL);
- ``synthesis_auto_cold``: the synthesis with the default mask chain (``auto``), its CNN
  masks computed in the build;
- ``synthesis_auto_cached``: the same with every CNN mask already in the cache (`MASKS`,
  filled by a ``synthesis_auto_cached`` run before the timed ones).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from tests.benchmarks import workload as wl


def decode(items_path: Path, size: int) -> None:
    import rasterio

    def read(path: Path) -> int:
        with rasterio.open(path) as ds:
            return int(ds.read(1).shape[0])

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(read, wl.files(items_path)))


def handwritten(items_path: Path, size: int, how: str) -> None:
    import dask
    import stackstac

    items = [json.loads(line) for line in items_path.read_text().splitlines()]
    for item in items:
        for asset in item["assets"].values():
            asset["href"] = str(items_path.parent / asset["href"])
    stack = stackstac.stack(items, assets=[*wl.BANDS, "scl"], epsg=wl.EPSG,
                            resolution=wl.RESOLUTION, bounds=wl.bounds(size))
    scl = stack.sel(band="scl")
    clear = scl.isin([2, 4, 5, 6, 7, 11])
    reflectance = stack.sel(band=list(wl.BANDS)).where(clear)
    reduced = reflectance.mean("time") if how == "mean" else reflectance.median("time")
    with dask.config.set(scheduler="threads"):
        reduced.compute()


#: The mask cache of ``synthesis_auto_cached``, kept between runs.
MASKS = Path(__file__).resolve().parents[2] / "artifacts" / "benchmarks" / "masks"


def l3a(items_path: Path, size: int, method: str, cloud_mask: str = "scl",
        mask_cache: Path | None = None) -> None:
    from engine.pipeline import build_product

    items = wl.items(items_path, size)
    order = wl.order(size, method, cloud_mask)
    out = Path(tempfile.mkdtemp(prefix="l3a-bench-")) / "product"
    try:
        build_product(order, items, out, mask_cache=mask_cache)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


CASES = {
    "decode": decode,
    "handwritten_mean": lambda p, s: handwritten(p, s, "mean"),
    "handwritten_median": lambda p, s: handwritten(p, s, "median"),
    "synthesis": lambda p, s: l3a(p, s, "synthesis"),
    "composite": lambda p, s: l3a(p, s, "composite"),
    "median": lambda p, s: l3a(p, s, "median"),
    "synthesis_auto_cold": lambda p, s: l3a(p, s, "synthesis", "auto"),
    "synthesis_auto_cached": lambda p, s: l3a(p, s, "synthesis", "auto", MASKS / str(s)),
}


def main() -> None:
    """Run one case and print its figures as JSON."""
    case, size = sys.argv[1], int(sys.argv[2])
    items_path = wl.workload(size)
    np.seterr(all="ignore")
    # Imports are not what is measured: every case starts with its libraries loaded.
    import dask.array  # noqa: F401
    import rasterio  # noqa: F401
    import stackstac  # noqa: F401

    import catalog.search  # noqa: F401
    import engine.pipeline  # noqa: F401
    start = time.perf_counter()
    CASES[case](items_path, size)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"case": case, "size": size, "seconds": round(seconds, 3),
                      "peak_rss_mib": round(peak_kib / 1024, 1)}))


if __name__ == "__main__":
    main()
