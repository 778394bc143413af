"""Parts on a cluster (issue 17): what ``l3a build``'s process receives, and how long it takes.

Run (about 1.5 minutes on 2 cores; the demo, 1 GB, is generated once into ~/.cache/l3a-bench,
in about 1 minute)::

    python -m tests.benchmarks.parts                       # 2048 px, parts of 1024, 2 runs
    python -m tests.benchmarks.parts --size 1024 --part-size 512 --repeat 1

Measured as users meet it: the whole ``l3a build`` process (``python -m api.cli build
--verbose``, interpreter start and exit included), with ``L3A_DASK_SCHEDULER`` naming a real
cluster: a ``dask scheduler`` and ``dask worker`` processes of one thread each
(`tests.distributed.support.dask_processes`). The order is a synthesis of the demo catalogue
(`catalog.demo.write_demo` at 10 m: 12 dates, 10 bands, SCL and AOT) over its whole grid at
10 m with the items' SCL mask (no CNN runs), every band, from a lon/lat bbox whose grid is
exactly the demo's (`bbox_of_grid`). Cases (`CASES`):

- ``one-part-2w``: ``L3A_PART_SIZE=65536``, 2 workers: the order is one part; every float32
  block comes back to the client process, which writes the COGs;
- ``parts-2w``: parts of ``--part-size`` (4 parts of 1024 px by default), 2 workers: each part
  is one task that computes and writes the part's COGs; the client gets their names;
- ``parts-1w``: the same parts on 1 worker: what the second worker gains.

Bytes received are the engine's own count, its ``results:`` line: the blocks' ``nbytes``
(one part), the pickled size of each part's result (parts). It leaves out what a one-part
synthesis gathers before its blocks, the order's coarse cloud fraction (12 x 86 x 86 float32,
355 KB at 2048 px; a part computes its own in its task). Each cluster first runs one
untimed build (imports in the workers, numba's cache, the OS page cache), then the cases run
round-robin ``--repeat`` times; a case's time is the median of its runs. Beside the time: the
CPU seconds of the client process and of the workers, and the client's peak memory. Every
product is checked: each layer's asset in item.json opens with rasterio and reads over the
whole grid.

A worker of one thread is not a worker of one core: the engine decodes tiles on a pool of
I/O threads in every process (`engine.readers`) and a part converts its COGs on a thread a
core (`engine.write`), so on a 2-core machine one worker's threads already spread over both
cores, and two workers contend for them (measured here: 2 workers 0.98-1.24 x faster than 1).
``--pin-workers`` gives each worker one core of its own (all its threads), as if each were a
one-core node: the speed-up of 2 workers over 1 is then what a second node gives (1.5-1.7 x).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.demo import BANDS, DEMO_EPSG, DEMO_PERIOD, demo_grid
from engine.parts import PART_FIELD
from tests.benchmarks.chunk_cost import engine_version
from tests.benchmarks.loader_cases import l3a_env
from tests.benchmarks.workload import CACHE
from tests.distributed.support import DaskProcesses, dask_processes

ROOT = Path(__file__).resolve().parents[2]
RESOLUTION = 10
#: The largest ``L3A_PART_SIZE``, larger than any grid of the benchmark: the order is one part.
ONE_PART = 65536
#: Seconds one ``l3a build`` may take (one of 2048 px takes 6-11 s here).
BUILD_TIMEOUT = 900.0
#: The engine's count of what a build's process received (`engine.execution.log_received`).
RESULTS_LINE = re.compile(
    r"results: (?P<bytes>\d+) bytes received from the cluster for (?P<count>\d+) "
    r"(?P<unit>blocks|parts)")


@dataclass(frozen=True)
class Case:
    """One way of building the order: how many workers, and the part size it is given."""

    name: str
    workers: int
    #: None: the benchmark's ``--part-size``.
    part_size: int | None


CASES = (Case("one-part-2w", 2, ONE_PART), Case("parts-2w", 2, None), Case("parts-1w", 1, None))


def demo_items(size: int) -> Path:
    """The items.ndjson of the demo of ``size`` px at 10 m (generated once, ~1 min at 2048)."""
    folder = CACHE / f"demo-{size}-{RESOLUTION}m"
    items = folder / "items.ndjson"
    # write_demo writes items.ndjson last: a folder without it is an interrupted build,
    # which writing again overwrites. It runs in a child: its arrays (~600 MiB at 2048 px)
    # would stay in this process's peak, which every build's child starts from (`build`).
    if not items.exists():
        subprocess.run([sys.executable, "-c", "import sys; from catalog.demo import write_demo;"
                        f" write_demo(sys.argv[1], size_px={size}, resolution={RESOLUTION})",
                        str(folder)], cwd=ROOT, check=True, timeout=BUILD_TIMEOUT)
    return items


def bbox_of_grid(bounds: tuple[float, float, float, float], epsg: int
                 ) -> tuple[float, float, float, float]:
    """A lon/lat bbox whose 10 m grid (`engine.grid.output_grid`) is exactly ``bounds``.

    The grid of a lon/lat bbox is the snapped envelope of its projection, whose curved edges
    bulge out of (or into) any UTM square by ~30 m a side at 20 km: neither the square's
    lon/lat envelope nor its inscribed box gives the square. Each envelope edge is aimed at
    the middle of the pixel inside the square's edge (so the order's 6-decimal rounding of
    the bbox cannot move it), correcting by the local metres per degree until it is within
    half a metre.
    """
    from pyproj import Transformer

    from engine.grid import output_grid

    to_lonlat = Transformer.from_crs(epsg, 4326, always_xy=True)
    to_grid = Transformer.from_crs(4326, epsg, always_xy=True)
    half = RESOLUTION / 2
    aim = (bounds[0] + half, bounds[1] + half, bounds[2] - half, bounds[3] - half)
    bbox = list(to_lonlat.transform_bounds(*aim))
    x, y = (aim[0] + aim[2]) / 2, (aim[1] + aim[3]) / 2
    lon, lat = to_lonlat.transform(x, y)
    lon_per_m = to_lonlat.transform(x + 1, y)[0] - lon
    lat_per_m = to_lonlat.transform(x, y + 1)[1] - lat
    for _ in range(10):
        west, south, east, north = bbox
        envelope = to_grid.transform_bounds(west, south, east, north,
                                            densify_pts=21)  # as output_grid does
        error = [a - e for a, e in zip(aim, envelope, strict=True)]
        if max(abs(e) for e in error) < 0.5:
            break
        bbox = [bbox[0] + error[0] * lon_per_m, bbox[1] + error[1] * lat_per_m,
                bbox[2] + error[2] * lon_per_m, bbox[3] + error[3] * lat_per_m]
    west, south, east, north = (round(v, 6) for v in bbox)
    got = output_grid((west, south, east, north), RESOLUTION, epsg).bounds
    if got != bounds:
        raise RuntimeError(f"no bbox found whose grid is {bounds} (closest: {got})")
    return west, south, east, north


def layer_files(product: Path) -> dict[str, Path]:
    """Each layer's file, from the product's item.json: ``<key>.tif``, or its ``<key>.vrt``
    mosaic in a product built in parts (whose part COGs are assets too, not layers)."""
    item = json.loads((product / "item.json").read_text(encoding="utf-8"))
    return {key: product / asset["href"] for key, asset in item["assets"].items()
            if PART_FIELD not in asset}


def check_product(product: Path, shape: tuple[int, int]) -> int:
    """Open and read every layer of ``product`` over the whole grid; how many layers."""
    import rasterio

    layers = layer_files(product)
    if not layers:
        raise AssertionError(f"{product}/item.json names no layer")
    for key, path in layers.items():
        with rasterio.open(path) as dataset:
            # Reading, not just opening: a mosaic opens without its part files.
            if dataset.read(1).shape != shape:
                raise AssertionError(f"{key} of {product} is {dataset.shape}, not {shape}")
    return len(layers)


@dataclass(frozen=True)
class Build:
    """One ``l3a build`` run: its time, what it received, what it cost, its product."""

    wall_s: float
    received_bytes: int
    count: int  # blocks or parts received
    unit: str  # "blocks" or "parts"
    client_cpu_s: float
    workers_cpu_s: float
    client_peak_rss_mib: float
    product: Path


def workers_cpu_s(cluster: DaskProcesses) -> float:
    """CPU seconds the cluster's workers have used so far."""
    import psutil

    return sum(sum(psutil.Process(w.pid).cpu_times()[:2]) for w in cluster.workers)


def pin_workers(cluster: DaskProcesses) -> None:
    """Give each worker one core of this machine, every thread of it (cycling if fewer).

    Threads started later inherit the core of the thread that starts them.
    """
    import psutil

    cores = sorted(os.sched_getaffinity(0))
    for index, worker in enumerate(cluster.workers):
        for thread in psutil.Process(worker.pid).threads():
            os.sched_setaffinity(thread.id, {cores[index % len(cores)]})


def build(items: Path, bbox: tuple[float, float, float, float], cluster: DaskProcesses,
          part_size: int, folder: Path) -> Build:
    """Run ``l3a build --verbose`` on ``cluster`` into ``folder / "product"``, timed."""
    folder.mkdir(parents=True)
    product = folder / "product"
    command = [sys.executable, "-m", "api.cli", "build", "--source", str(items),
               "--bbox", ",".join(f"{v:.6f}" for v in bbox), "--period", DEMO_PERIOD,
               "--method", "synthesis", "--bands", ",".join(BANDS),
               "--resolution", str(RESOLUTION), "--cloud-mask", "scl",
               "--out", str(product), "--quiet", "--verbose"]
    # The client computes nothing itself on a cluster: one local thread is never used.
    env = l3a_env(1, L3A_DASK_SCHEDULER=cluster.address, L3A_PART_SIZE=str(part_size),
                   L3A_DATA_DIR=str(folder / "data"))
    stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
    workers_before = workers_cpu_s(cluster)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        # wait4, not wait: it also gives the child's CPU time and peak memory (Linux counts
        # the peak from this process's at the fork, which is smaller than a build's).
        timer = threading.Timer(BUILD_TIMEOUT, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    log = stderr.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"l3a build exited with {process.returncode}: {log[-3000:]}\n"
                           f"{cluster.log_text()}")
    found = RESULTS_LINE.search(log)
    if found is None:
        raise RuntimeError(f"l3a build --verbose said nothing of its results: {log[-3000:]}")
    return Build(wall, int(found["bytes"]), int(found["count"]), found["unit"],
                 usage.ru_utime + usage.ru_stime, workers_cpu_s(cluster) - workers_before,
                 usage.ru_maxrss / 1024, product)


def run(size: int = 2048, part_size: int = 1024, repeat: int = 2, work: Path | None = None,
        pin: bool = False, log: bool = True) -> dict[str, Any]:
    """Build the order in every case, ``repeat`` times round-robin; the figures.

    Products are kept in ``work`` (a case's last one is named in its figures), or in a
    temporary folder removed before returning. ``pin``: each worker on one core of its own.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, not {repeat}")
    engine = engine_version()
    items = demo_items(size)
    grid = demo_grid(size, RESOLUTION)
    bbox = bbox_of_grid(grid.bounds, DEMO_EPSG)
    runs: dict[str, list[Build]] = {case.name: [] for case in CASES}
    layers = 0
    with ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="l3a-parts-")))
        clusters: dict[int, DaskProcesses] = {}
        for workers in sorted({case.workers for case in CASES}):
            cluster = stack.enter_context(
                dask_processes(work / f"cluster-{workers}w", n_workers=workers))
            if pin:
                pin_workers(cluster)
            # Untimed: the workers' first tasks import the engine and load numba's cache.
            warm = build(items, bbox, cluster, part_size, work / f"warm-up-{workers}w")
            shutil.rmtree(warm.product.parent)
            clusters[workers] = cluster
        # Round-robin, so that a slower spell of a shared machine hits every case alike.
        for index in range(repeat):
            for case in CASES:
                done = build(items, bbox, clusters[case.workers], case.part_size or part_size,
                             work / f"{case.name}-{index}")
                layers = check_product(done.product, grid.shape)
                runs[case.name].append(done)
                if log:
                    print(f"{case.name} run {index + 1}: {done.wall_s:.2f} s, "
                          f"{done.received_bytes:,} bytes for {done.count} {done.unit}, "
                          f"CPU s client {done.client_cpu_s:.1f} workers "
                          f"{done.workers_cpu_s:.1f}, client peak "
                          f"{done.client_peak_rss_mib:.0f} MiB", file=sys.stderr)
    figures = summarise(runs, layers, grid.shape)
    # The tree is shared: it may move during a run.
    figures.update(size=size, part_size=part_size, bbox=list(bbox), pinned=pin, engine=engine,
                   engine_after=engine_version())
    return figures


def summarise(runs: dict[str, list[Build]], layers: int, shape: tuple[int, int]
              ) -> dict[str, Any]:
    """The figures of every case (medians over its runs) and the ratios between cases."""
    cases: dict[str, dict[str, Any]] = {}
    for case in CASES:
        builds = runs[case.name]
        last = builds[-1]
        parts = last.count if last.unit == "parts" else 1
        received = statistics.median(b.received_bytes for b in builds)
        wall = statistics.median(b.wall_s for b in builds)
        client_cpu = statistics.median(b.client_cpu_s for b in builds)
        workers_cpu = statistics.median(b.workers_cpu_s for b in builds)
        cases[case.name] = {
            "workers": case.workers, "wall_s": wall,
            "all_wall_s": [round(b.wall_s, 3) for b in builds],
            "received_bytes": received, "count": last.count, "unit": last.unit,
            "parts": parts, "received_per_part": received / parts,
            "client_cpu_s": client_cpu, "workers_cpu_s": workers_cpu,
            # The scheduler's few CPU seconds left out.
            "cores_busy": (client_cpu + workers_cpu) / wall,
            "client_peak_rss_mib": max(b.client_peak_rss_mib for b in builds),
            "product": str(last.product),
        }
    for figures in cases.values():
        if figures["unit"] == "parts":
            # What the one-part path would have sent for the same pixels: the part's float32
            # blocks of every layer (case one-part-2w's bytes divided by the parts).
            blocks = layers * shape[0] * shape[1] * 4 / figures["parts"]
            figures["float32_per_part"] = blocks
            figures["received_vs_float32"] = figures["received_per_part"] / blocks
    return {
        "layers": layers, "grid": list(shape), "repeat": len(runs[CASES[0].name]),
        "cases": cases,
        "speedup_2w_over_1w": cases["parts-1w"]["wall_s"] / cases["parts-2w"]["wall_s"],
        "parts_vs_one_part_2w": cases["parts-2w"]["wall_s"] / cases["one-part-2w"]["wall_s"],
    }


def print_table(figures: dict[str, Any]) -> None:
    """The figures as two tables, bytes then time, and the ratios between cases."""
    rows, cols = figures["grid"]
    cases = figures["cases"]
    print(f"\nl3a build, synthesis, {cols} x {rows} px at {RESOLUTION} m, {figures['layers']} "
          f"layers, on a local cluster{' (one core a worker)' if figures['pinned'] else ''};"
          f" median of {figures['repeat']} run(s); engine {figures['engine']}")
    print(f"{'case':<13}{'received':>11}{'bytes':>13}{'bytes/part':>13}"
          f"{'float32 blocks/part':>21}{'ratio':>10}")
    for name, case in cases.items():
        blocks = case.get("float32_per_part")
        ratio = case.get("received_vs_float32")
        print(f"{name:<13}{case['count']:>4} {case['unit']:<6}{case['received_bytes']:>13,.0f}"
              f"{case['received_per_part']:>13,.0f}"
              f"{f'{blocks:,.0f}' if blocks is not None else '-':>21}"
              f"{f'{ratio:.2e}' if ratio is not None else '-':>10}")
    print(f"\n{'case':<13}{'workers':>8}{'wall s':>8}  {'runs (s)':>20}{'client CPU s':>14}"
          f"{'workers CPU s':>15}{'cores busy':>12}{'client MiB':>12}")
    for name, case in cases.items():
        runs = ", ".join(f"{s:.2f}" for s in case["all_wall_s"])
        print(f"{name:<13}{case['workers']:>8}{case['wall_s']:>8.2f}  {runs:>20}"
              f"{case['client_cpu_s']:>14.2f}{case['workers_cpu_s']:>15.2f}"
              f"{case['cores_busy']:>12.2f}{case['client_peak_rss_mib']:>12.0f}")
    print(f"\nspeed-up of 2 workers over 1, in parts: {figures['speedup_2w_over_1w']:.2f} x")
    print(f"time of parts / one part, 2 workers: {figures['parts_vs_one_part_2w']:.2f}")


def main() -> None:
    """Run the benchmark, print its table, optionally save its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048,
                        help="side of the demo and of the order, px at 10 m")
    parser.add_argument("--part-size", type=int, default=1024,
                        help="L3A_PART_SIZE of the parts cases (rounded up to 512 px cells)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each case")
    parser.add_argument("--keep", type=Path,
                        help="keep the products and logs in this (new) folder")
    parser.add_argument("--pin-workers", action="store_true",
                        help="one core a worker (its I/O threads would use every core)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if args.size <= args.part_size:
        parser.error(f"--size {args.size} is not larger than --part-size {args.part_size}: "
                     "every case would be one part")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    figures = run(args.size, args.part_size, args.repeat, args.keep, args.pin_workers)
    print_table(figures)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
