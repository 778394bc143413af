"""Loader benchmark cases (issue 14), one per process, so that each peak memory is its own.

``python -m tests.benchmarks.loader_cases CASE LAYOUT WHERE [--threads 2]`` prints one JSON
line: ``{"case", "layout", "where", "seconds", "peak_rss_mib", ...}``; remote cases add the
range server's counts (``requests``, ``heads``, ``gets``, ``bytes_sent``).

Every case builds or reads the same order: `workload.unaligned_bbox` (a lon/lat bbox typed by
hand, ~1900 px at 10 m, whose edges cut input tiles), 12 dates, the 10 bands and the SCL, on
the workload of ``LAYOUT`` (``plain`` or ``earth-search``, 2048 px, `workload.workload`).

``WHERE`` is ``local`` (files on disk) or ``remote``: this process serves the workload folder
through `range_server.RangeServer` (20 ms before every answer) and the case reads an
items.ndjson whose hrefs are ``http://127.0.0.1:PORT/...``. The server runs in this process:
for the in-process cases (floor, odc-stac, stackstac) its threads share the GIL with the
readers, which costs them a little; ``l3a build`` runs in a child process and does not.

Cases:

- ``floor``: every internal tile of every input file that intersects the order decoded once,
  with rasterio, one tile-aligned window per file, ``--threads`` threads. It also counts
  those tiles and files: ``expected_requests`` = tiles + files, the budget issue 14 gives a
  build (one request per tile, one open per file). Remote, it is latency-bound: ``--threads``
  files in flight, three round trips each (HEAD, header, tiles: GDAL merges the tiles of one
  window into one request).
- ``synthesis``, ``median``, ``composite``: the whole ``l3a build`` process, process start
  included (``startup`` tells what that costs), with the items' SCL mask. Its peak is the
  child's (``RUSAGE_CHILDREN``).
- ``odcstac_median``, ``odcstac_mean``: what users write today with odc-stac: load at 10 m
  on the bbox, chunks of 2048 px, grouped by solar day, SCL clear classes kept with
  ``where``, reduced over time on dask's threaded scheduler (``--threads`` workers).
- ``stackstac_median``: the same with stackstac (as `engine_cases.handwritten`).
- ``startup``: ``python -c "import api.cli, catalog.search, engine.pipeline"``, the imports an
  ``l3a build`` does before its first read: the fixed cost in the l3a cases' time.

In-process cases are timed after their libraries are imported, as in `engine_cases`; the
l3a cases include process start, as a user of the command sees it. Every case is bounded:
a child gets `CASE_TIMEOUT` seconds, this process dumps its stacks and exits after
`CASE_TIMEOUT` + 60, and the server stops by itself.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.benchmarks import workload as wl
from tests.benchmarks.range_server import RangeServer

SIZE = 2048
#: One round trip to object storage in the same region.
DELAY = 0.02
#: Seconds a case's child process may take (the slowest, stackstac's median, takes ~45 s).
CASE_TIMEOUT = 900.0
#: Sentinel-2 SCL classes kept as clear: vegetation, bare soil, water, unclassified, snow
#: (as in `engine_cases.handwritten`; 2 is "dark area", kept by most recipes).
CLEAR = (2, 4, 5, 6, 7, 11)
ASSETS = (*wl.BANDS, "scl")
EPSG = f"EPSG:{wl.EPSG}"
ROOT = Path(__file__).resolve().parents[2]
#: GDAL settings of the floor and the odc-stac and stackstac cases: no folder listing on
#: open, no probing of side-car files over HTTP. What a user who read the odc-stac docs
#: sets (``configure_rio(cloud_defaults=True)`` sets the first one).
READ_ENV: dict[str, Any] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}


@dataclass
class Run:
    """What a case is given: the items file it reads, the bbox, threads; what it reports.

    ``items_path`` is the workload's own items file, or (remote) a copy of it whose hrefs
    are URLs under ``base_url``; ``folder`` is the workload folder either way.
    """

    items_path: Path
    folder: Path
    base_url: str | None
    bbox: tuple[float, float, float, float]
    threads: int
    figures: dict[str, Any] = field(default_factory=dict)
    #: The period ``l3a build`` orders (`long_period` orders a year).
    period: str = wl.PERIOD

    def href(self, relative: str) -> str:
        """Where a case reads a file of the workload given relative to its folder."""
        relative = relative.removeprefix("./")
        if self.base_url is not None:
            return f"{self.base_url}/{relative}"
        return str(self.folder / relative)

    def item_dicts(self) -> list[dict[str, Any]]:
        """The items, hrefs absolute (paths or URLs), stac_extensions declared.

        odc-stac reads the grids (``proj:*``) and ``raster:bands`` through pystac's
        extensions, found only when the item declares them: without, it refuses the plain
        layout's items ("Can not process items without defined footprint", their geometry
        is null). Earth Search's items declare them; the plain layout's do not.
        """
        items = _workload_items(self.folder)
        for item in items:
            item.setdefault("stac_extensions", wl.EARTH_SEARCH_EXTENSIONS)
            for asset in item["assets"].values():
                asset["href"] = self.href(asset["href"])
        return items


# --- floor -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tiles:
    """The tile-aligned window of one file covering the order, and its number of tiles."""

    href: str
    window: tuple[int, int, int, int]  # col_off, row_off, width, height
    tiles: int


def _tiles_of(href: str, order_bounds: tuple[float, float, float, float]) -> _Tiles:
    """The internal tiles of ``href`` that intersect ``order_bounds`` (its header read)."""
    import rasterio

    with rasterio.open(href) as ds:
        block_h, block_w = ds.block_shapes[0]
        a, _, c, _, e, f = tuple(ds.transform)[:6]
        minx, miny, maxx, maxy = order_bounds
        col0 = max(0, math.floor((minx - c) / a) // block_w)
        col1 = min(math.ceil(ds.width / block_w), math.ceil((maxx - c) / a / block_w))
        row0 = max(0, math.floor((maxy - f) / e) // block_h)
        row1 = min(math.ceil(ds.height / block_h), math.ceil((miny - f) / e / block_h))
        x0, y0 = col0 * block_w, row0 * block_h
        width = min(col1 * block_w, ds.width) - x0
        height = min(row1 * block_h, ds.height) - y0
        return _Tiles(href, (x0, y0, width, height), (col1 - col0) * (row1 - row0))


def _decode(tiles: _Tiles) -> int:
    """Open ``tiles.href`` and decode its window once (one read, tile-aligned)."""
    import rasterio
    from rasterio.windows import Window

    # rasterio environments are per thread: the floor's settings are entered in each.
    with rasterio.Env(**READ_ENV), rasterio.open(tiles.href) as ds:
        return int(ds.read(1, window=Window(*tiles.window)).size)


def floor(run: Run) -> None:
    """Decode every input tile the order intersects once; report tiles, files, budget."""
    bounds = wl.unaligned_bounds(SIZE, run.bbox)
    relatives = [asset["href"] for item in _workload_items(run.folder)
                 for key, asset in item["assets"].items() if key in ASSETS]
    # The plan needs each file's header: read from disk, before the clock and the server.
    plans = [_tiles_of(str(run.folder / r), bounds) for r in relatives]
    plans = [_Tiles(run.href(r), p.window, p.tiles) for r, p in zip(relatives, plans,
                                                                     strict=True)]
    tiles = sum(p.tiles for p in plans)
    run.figures.update(files=len(plans), tiles=tiles, expected_requests=tiles + len(plans))
    run.figures["started"] = time.perf_counter()
    with ThreadPoolExecutor(run.threads) as pool:
        list(pool.map(_decode, plans))


def _workload_items(folder: Path) -> list[dict[str, Any]]:
    """The workload's items as written (hrefs relative to its folder)."""
    return [json.loads(line) for line in (folder / "items.ndjson").read_text().splitlines()]


# --- l3a ---------------------------------------------------------------------------------


def l3a_env(threads: int, **settings: str) -> dict[str, str]:
    """The environment of the ``l3a`` child: no operator settings but ``settings``, and
    ``threads`` dask workers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("L3A_")}
    env["DASK_NUM_WORKERS"] = str(threads)
    return env | settings


def l3a_build(run: Run, method: str, **settings: str) -> None:
    """Run ``l3a build`` on the order, as a user would, and check it wrote a product."""
    out = Path(tempfile.mkdtemp(prefix="l3a-loader-bench-"))
    command = [str(Path(sys.executable).with_name("l3a")), "build",
               "--source", str(run.items_path), "--bbox", ",".join(f"{v:.9f}" for v in run.bbox),
               "--period", run.period, "--method", method, "--bands", ",".join(wl.BANDS),
               "--resolution", "10", "--cloud-mask", "scl", "--out", str(out / "product"),
               "--quiet", "--verbose"]
    try:
        done = subprocess.run(command, cwd=ROOT, env=l3a_env(run.threads, **settings),
                              capture_output=True,
                              text=True, timeout=CASE_TIMEOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"l3a build failed ({done.returncode}): {done.stderr[-2000:]}")
        if not any((out / "product").glob("*.tif")):
            raise RuntimeError(f"l3a build wrote no COG in {out / 'product'}")
        run.figures.update(read_counts(done.stderr))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def read_counts(log: str) -> dict[str, int]:
    """What ``l3a build --verbose`` says it read: tiles decoded, again, spilled, read back."""
    line = next((line for line in log.splitlines() if "reads:" in line), "")
    patterns = {"build_requests": r"(\d+) requests", "tiles_decoded": r"(\d+) tiles,",
                "reopens": r"(\d+) reopens", "decoded_again": r"(\d+) tiles decoded again",
                "spilled": r"(\d+) tiles spilled", "read_back": r"(\d+) read back"}
    return {name: int(found.group(1)) for name, pattern in patterns.items()
            if (found := re.search(pattern, line))}


def startup(run: Run) -> None:
    """Import what ``l3a build`` imports before its first read, in a fresh process."""
    subprocess.run([sys.executable, "-c", "import api.cli, catalog.search, engine.pipeline"],
                   cwd=ROOT, env=l3a_env(run.threads), check=True, timeout=120)


# --- odc-stac and stackstac ----------------------------------------------------------------


def _compute(reduced: Any, threads: int) -> None:
    import dask

    with dask.config.set(scheduler="threads", num_workers=threads):
        reduced.compute()


def odcstac(run: Run, how: str) -> None:
    """odc.stac.load on the bbox, SCL clear classes kept, reduced over time."""
    import odc.stac
    import pystac

    odc.stac.configure_rio(cloud_defaults=True, **READ_ENV)
    items = [pystac.Item.from_dict(d) for d in run.item_dicts()]
    ds = odc.stac.load(items, bands=list(ASSETS), bbox=run.bbox, crs=EPSG, resolution=10,
                       chunks={"x": 2048, "y": 2048}, groupby="solar_day",
                       resampling="nearest")
    clear = ds["scl"].isin(CLEAR)
    reflectance = ds[list(wl.BANDS)].where(clear)
    reduced = reflectance.mean("time") if how == "mean" else reflectance.median("time")
    _compute(reduced, run.threads)


def stackstac_median(run: Run) -> None:
    """stackstac.stack on the bbox (its default float64, 1024 px chunks), median over time."""
    import stackstac

    env = stackstac.DEFAULT_GDAL_ENV.updated(always=READ_ENV)
    stack = stackstac.stack(run.item_dicts(), assets=list(ASSETS), epsg=wl.EPSG,
                            resolution=wl.RESOLUTION, bounds_latlon=run.bbox, gdal_env=env)
    clear = stack.sel(band="scl").isin(list(CLEAR))
    reduced = stack.sel(band=list(wl.BANDS)).where(clear).median("time")
    _compute(reduced, run.threads)


CASES: dict[str, Callable[[Run], None]] = {
    "floor": floor,
    "synthesis": lambda run: l3a_build(run, "synthesis"),
    # The same build with every remote read through GDAL's /vsicurl (`engine.remote_cog`).
    "synthesis_gdal_http": lambda run: l3a_build(run, "synthesis", L3A_ASYNC_HTTP="0"),
    "median": lambda run: l3a_build(run, "median"),
    "composite": lambda run: l3a_build(run, "composite"),
    "odcstac_median": lambda run: odcstac(run, "median"),
    "odcstac_mean": lambda run: odcstac(run, "mean"),
    "stackstac_median": stackstac_median,
    "startup": startup,
}
#: Cases that run in a child process: their peak is the child's, not this process's.
CHILD_CASES = frozenset({"synthesis", "synthesis_gdal_http", "median", "composite",
                         "startup"})


# --- running -------------------------------------------------------------------------------


def remote_items(items_path: Path, base_url: str, out: Path) -> Path:
    """A copy of ``items_path`` whose relative hrefs are absolute URLs under ``base_url``."""
    lines = []
    for line in items_path.read_text().splitlines():
        item = json.loads(line)
        for asset in item["assets"].values():
            if asset["href"].startswith("./"):
                asset["href"] = f"{base_url}/{asset['href'][2:]}"
        lines.append(json.dumps(item))
    out.write_text("\n".join(lines) + "\n")
    return out


@contextmanager
def _served(items_path: Path, remote: bool) -> Iterator[tuple[Path, RangeServer | None]]:
    """The items file to read: the workload's own, or a copy pointing at a range server."""
    if not remote:
        yield items_path, None
        return
    with tempfile.TemporaryDirectory(prefix="l3a-loader-items-") as tmp, RangeServer(
            items_path.parent, delay=DELAY, lifetime=CASE_TIMEOUT + 30) as server:
        yield remote_items(items_path, server.url, Path(tmp) / "items.ndjson"), server


def import_libraries(case: str) -> None:
    """Import an in-process case's libraries before the clock starts (not what is measured)."""
    import dask.array  # noqa: F401
    import numpy as np
    import rasterio  # noqa: F401

    np.seterr(all="ignore")
    if case.startswith("odcstac"):
        import odc.stac  # noqa: F401
        import pystac  # noqa: F401
    if case.startswith("stackstac"):
        import stackstac  # noqa: F401


def ensure_workload(layout: wl.Layout) -> bool:
    """Generate the workload in a child process if missing; whether it was.

    Generating it holds ~1 GB of arrays: in this process, it would be the case's peak. In a
    child it still is the peak of an ``l3a build`` case (``RUSAGE_CHILDREN`` is the largest
    child's), which then says ``workload_generated``: run such a case again.
    """
    if wl.items_file(SIZE, layout=layout).exists():
        return False
    subprocess.run([sys.executable, "-c", "import sys; from tests.benchmarks import workload"
                    f" as wl; wl.workload({SIZE}, layout=sys.argv[1])", layout],
                   cwd=ROOT, check=True, timeout=CASE_TIMEOUT)
    return True


def measure(case: str, layout: wl.Layout, remote: bool, threads: int) -> dict[str, Any]:
    """Run ``case`` once on ``layout``; its figures."""
    generated = ensure_workload(layout)
    items_path = wl.items_file(SIZE, layout=layout)
    import_libraries(case)
    with _served(items_path, remote) as (path, server):
        run = Run(path, items_path.parent, server.url if server is not None else None,
                  wl.unaligned_bbox(SIZE), threads)
        start = time.perf_counter()
        CASES[case](run)
        end = time.perf_counter()
        stats = server.stats if server is not None else None
    start = run.figures.pop("started", start)  # the floor's clock starts after its plan
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures: dict[str, Any] = {
        "case": case, "layout": layout, "where": "remote" if remote else "local",
        "threads": threads, "seconds": round(end - start, 3),
        "peak_rss_mib": round((child_kib if case in CHILD_CASES else self_kib) / 1024, 1),
        "self_rss_mib": round(self_kib / 1024, 1), **run.figures,
    }
    if stats is not None:
        figures.update(delay_s=DELAY, requests=stats.requests, heads=stats.heads,
                       gets=stats.gets, bytes_sent=stats.bytes_sent)
    if generated:
        figures["workload_generated"] = True
    return figures


def main() -> None:
    """Run one case and print its figures as one JSON line."""
    parser = argparse.ArgumentParser(description="one loader benchmark case")
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("layout", choices=wl.LAYOUTS)
    parser.add_argument("where", choices=("local", "remote"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # A hung read must not hang the benchmark: stacks to stderr, then exit.
    faulthandler.dump_traceback_later(CASE_TIMEOUT + 60, exit=True)
    figures = measure(args.case, args.layout, args.where == "remote", args.threads)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
