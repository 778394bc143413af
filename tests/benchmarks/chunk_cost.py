"""What one 512 x 512 chunk costs: the measurements behind docs/scaling.md.

Run (about 5 minutes on 2 cores; the workload is generated once into ~/.cache/l3a-bench)::

    python -m tests.benchmarks.chunk_cost                   # every case, 3 runs each
    python -m tests.benchmarks.chunk_cost --repeat 1 --cases local-t2-synthesis

Workload: `tests.benchmarks.workload.workload` (12 dates x 10 bands + SCL, 2048 x 2048 px
at 10 m, DEFLATE COGs with 512 px tiles): 16 chunks. Every case runs in its own process (its
own peak memory) ``--repeat`` times; the report keeps each figure's minimum over the runs
(the machine is shared: the minimum is the run least disturbed by others) and the 1-minute
load average seen before each run. Cases:

- ``default-{synthesis,composite}``: the engine's local default (no scheduler address:
  dask's threaded scheduler, one thread per core), for comparison.
- ``local-t{1,2}-{synthesis,composite}``: inputs read from local files by an in-process dask
  cluster of 1 or 2 threads, the COGs written: CPU and wall time, the part of it spent by
  the client writing (the blocks as they arrive, then the COG conversion), peak RSS, tasks
  run per chunk. The difference of peaks between 2 and 1 threads is the memory of one more
  chunk in flight.
- ``http-t2-{synthesis,composite}``: the same inputs served over loopback HTTP (byte
  ranges, as object storage serves GDAL's /vsicurl): bytes and requests per chunk.
- ``latency20-t{2,8}-synthesis``: over HTTP with 20 ms before every answer (a first-byte
  time of object storage): how request latency sets the time of a chunk, and how threads
  hide it.
- ``gather``: MB/s of float32 blocks gathered by the client from worker processes, relayed
  by the scheduler (the client's default) or fetched directly.
- ``scheduler``: tasks per second of the distributed scheduler (in this process) driving two
  worker processes on trivial tasks.

The JSON of every run and the summary go to ``artifacts/benchmarks/chunk_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks import workload as wl

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "artifacts" / "benchmarks" / "chunk_cost.json"
CHUNK_PX = 512


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _WriterClock:
    """Time spent by the client in `ProductWriter` (patched in for the run)."""

    def __init__(self) -> None:
        self.write_block_cpu = 0.0  # thread CPU of the client thread in write_block
        self.publish_cpu = 0.0  # process CPU during publish (compute is over by then)
        self.publish_wall = 0.0

    def install(self) -> None:
        from engine.write import ProductWriter

        write_block, publish = ProductWriter.write_block, ProductWriter.publish
        clock = self

        def timed_write_block(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return write_block(self, *args, **kwargs)
            finally:
                clock.write_block_cpu += time.thread_time() - start

        def timed_publish(self: Any, *args: Any, **kwargs: Any) -> Any:
            cpu, wall = _cpu_seconds(), time.perf_counter()
            try:
                return publish(self, *args, **kwargs)
            finally:
                clock.publish_cpu += _cpu_seconds() - cpu
                clock.publish_wall += time.perf_counter() - wall

        ProductWriter.write_block = timed_write_block  # type: ignore[method-assign]
        ProductWriter.publish = timed_publish  # type: ignore[method-assign]


class _Executed:
    """Tasks run to completion on an in-process scheduler, and when the first and last ran."""

    def __init__(self, scheduler: Any) -> None:
        from distributed.diagnostics.plugin import SchedulerPlugin

        counter = self
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None

        class Plugin(SchedulerPlugin):
            name = "l3a-executed"

            def transition(self, key: Any, start: str, finish: str, *args: Any,
                           **kwargs: Any) -> None:
                if finish == "processing" and counter.first is None:
                    counter.first = time.perf_counter()
                if start == "processing" and finish == "memory":
                    counter.count += 1
                    counter.last = time.perf_counter()

        scheduler.add_plugin(Plugin())

    @property
    def span_s(self) -> float:
        """Seconds from the first task sent to a worker to the last one done."""
        return (self.last or 0.0) - (self.first or 0.0)


def build_case(size: int, method: str, threads: int | None, http: bool = False,
               delay_s: float = 0.0) -> dict[str, Any]:
    """Build the workload's product once; figures of the run.

    ``threads``: the threads of an in-process dask.distributed cluster (a worker's
    execution, with the client in the same process); None: no scheduler address, the
    engine's local default.
    """
    from distributed import LocalCluster

    from engine.cluster import close_clients
    from engine.pipeline import build_product

    items_path = wl.workload(size)
    chunks = (size // CHUNK_PX) ** 2
    clock = _WriterClock()
    clock.install()
    tmp = Path(tempfile.mkdtemp(prefix="l3a-chunk-cost-"))
    server = None
    try:
        if http:
            from tests.distributed.support import RangeServer, http_items

            server = RangeServer(items_path.parent, delay_s=delay_s).__enter__()
            items_path = http_items(items_path, f"{server.url}/w", tmp / "items.ndjson")
        items = wl.items(items_path, size)
        if threads is None:  # the engine's default: dask's threaded scheduler, no cluster
            cpu0, wall0 = _cpu_seconds(), time.perf_counter()
            out = build_product(wl.order(size, method), items, tmp / "product")
            wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
            tasks = None
        else:
            with LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                              dashboard_address=None) as cluster:
                executed = _Executed(cluster.scheduler)
                cpu0, wall0 = _cpu_seconds(), time.perf_counter()
                out = build_product(wl.order(size, method), items, tmp / "product",
                                    scheduler=cluster.scheduler_address)
                wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
                tasks = executed.count
                close_clients()
        files = [p for p in out.iterdir() if p.is_file()]
        layers = len([p for p in files if p.suffix == ".tif"])
        figures: dict[str, Any] = {
            "chunks": chunks,
            "wall_s": wall,
            "cpu_s": cpu,
            "client_write_block_cpu_s": clock.write_block_cpu,
            "client_publish_cpu_s": clock.publish_cpu,
            "client_publish_wall_s": clock.publish_wall,
            "tasks": tasks,
            "output_bytes": sum(p.stat().st_size for p in files),
            "gathered_bytes": layers * CHUNK_PX * CHUNK_PX * 4 * chunks,  # float32 blocks
        }
        if server is not None:
            log = server.log
            figures.update(requests=len(log), http_bytes=sum(r.nbytes for r in log),
                           http_errors=sum(r.status >= 400 for r in log))
        return figures
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        shutil.rmtree(tmp, ignore_errors=True)


def _noop(block: np.ndarray) -> np.ndarray:
    return block


def scheduler_case(n_tasks: int = 5000) -> dict[str, Any]:
    """Tasks per second through a distributed scheduler, two worker processes, trivial tasks.

    ``span_s`` runs from the first task sent to a worker to the last one done (scheduling
    and execution); ``wall_s`` adds the client's graph building and submission.
    """
    import dask.array as da
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        executed = _Executed(cluster.scheduler)
        x = da.ones(n_tasks, chunks=1).map_blocks(_noop, dtype=float).sum(split_every=64)
        start = time.perf_counter()
        total = float(client.compute(x).result())
        wall = time.perf_counter() - start
        assert total == n_tasks
        return {"tasks": executed.count, "wall_s": wall, "span_s": executed.span_s}


def gather_case(blocks: int = 24, layers: int = 8) -> dict[str, Any]:
    """Client-side gather of float32 blocks of ``layers`` x 512 x 512 from worker processes.

    Relayed by the scheduler (the client's default, ``direct=False``, what `build_product`
    does today) and fetched from the workers directly. The scheduler runs in its own process
    (``dask scheduler``), as in a deployment.
    """
    from distributed import Client, wait

    from tests.distributed.support import dask_processes

    def block(i: int, n: int) -> np.ndarray:
        return np.full((n, CHUNK_PX, CHUNK_PX), i, dtype=np.float32)

    figures: dict[str, Any] = {"blocks": blocks,
                               "block_bytes": layers * CHUNK_PX * CHUNK_PX * 4}
    with tempfile.TemporaryDirectory(prefix="l3a-gather-") as folder, \
            dask_processes(Path(folder)) as cluster, \
            Client(cluster.address) as client:  # `wait` needs the default client
        for direct in (False, True):
            futures = client.map(block, range(blocks), n=layers, pure=False)
            wait(futures)
            start = time.perf_counter()
            for future in futures:  # one at a time, as `build_product` gathers
                client.gather(future, direct=direct)
            figures[f"{'direct' if direct else 'via_scheduler'}_s"] = time.perf_counter() - start
            client.cancel(futures)
    return figures


def tile_bytes_per_chunk(size: int) -> float:
    """Compressed bytes of the full-resolution tiles a 512 px chunk covers (all inputs)."""
    import rasterio

    total = 0
    for path in wl.files(wl.workload(size)):
        with rasterio.open(path) as ds:
            block_rows, block_cols = ds.block_shapes[0]
            rows, cols = -(-ds.height // block_rows), -(-ds.width // block_cols)
            for row in range(rows):
                for col in range(cols):
                    total += int(ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    return total / (size // CHUNK_PX) ** 2


CASES: dict[str, Callable[[int], dict[str, Any]]] = {
    "default-synthesis": lambda s: build_case(s, "synthesis", None),
    "default-composite": lambda s: build_case(s, "composite", None),
    "local-t1-synthesis": lambda s: build_case(s, "synthesis", 1),
    "local-t2-synthesis": lambda s: build_case(s, "synthesis", 2),
    "local-t1-composite": lambda s: build_case(s, "composite", 1),
    "local-t2-composite": lambda s: build_case(s, "composite", 2),
    "http-t2-synthesis": lambda s: build_case(s, "synthesis", 2, http=True),
    "http-t2-composite": lambda s: build_case(s, "composite", 2, http=True),
    "latency20-t2-synthesis": lambda s: build_case(s, "synthesis", 2, http=True, delay_s=0.02),
    "latency20-t8-synthesis": lambda s: build_case(s, "synthesis", 8, http=True, delay_s=0.02),
    "scheduler": lambda s: scheduler_case(),
    "gather": lambda s: gather_case(),
}


def run_one(case: str, size: int) -> None:
    """Run one case in this process and print its figures as one JSON line."""
    np.seterr(all="ignore")
    figures = CASES[case](size)
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"case": case, **figures}))


def _per_chunk(fig: dict[str, Any]) -> dict[str, float]:
    n = fig["chunks"]
    client_cpu = fig["client_write_block_cpu_s"] + fig["client_publish_cpu_s"]
    row = {
        "wall_s": fig["wall_s"] / n,
        "cpu_s": fig["cpu_s"] / n,
        "client_cpu_s": client_cpu / n,
        "compute_cpu_s": (fig["cpu_s"] - client_cpu) / n,
        "publish_wall_s": fig["client_publish_wall_s"] / n,
        "tasks": fig["tasks"] / n if fig["tasks"] is not None else float("nan"),
        "output_bytes": fig["output_bytes"] / n,
        "gathered_bytes": fig["gathered_bytes"] / n,
    }
    if "requests" in fig:
        row.update(requests=fig["requests"] / n, http_bytes=fig["http_bytes"] / n)
    return row


def engine_version() -> str:
    """The commit measured, and whether engine/ had uncommitted changes (read-only git)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "engine"], cwd=ROOT, text=True,
                               capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted engine/ changes' if dirty else ''}"


def derive(report: dict[str, Any], method: str, area_km2: float, workers: list[int],
           threads: int, cores: int, bandwidth_mb_s: float, latency_ms: float) -> None:
    """Print the time of an area at 10 m on W workers, from measured per-chunk figures.

    Per worker (``cores`` cores, ``threads`` threads, one chunk per thread at a time; a
    chunk's reads run one after the other inside its task, so each request's latency adds
    up): ``min(cores / compute, threads / (compute + requests * latency), bandwidth /
    bytes_in)`` chunks/s. The
    cluster's rate is W times that, capped by the one client: the scheduler's task rate, the
    relay of gathered blocks through the scheduler, and the client's block writes; the COG
    conversion (publish) follows the last block, in the client, at the measured rate.
    """
    summary = report["summary"]
    base = summary[f"local-t1-{method}"]["per_chunk_min"]
    http = summary[f"http-t2-{method}"]["per_chunk_min"]
    chunks = area_km2 * 1e6 / (10 * 10) / CHUNK_PX**2
    compute_s, requests, bytes_in = base["compute_cpu_s"], http["requests"], http["http_bytes"]
    per_thread_s = compute_s + requests * latency_ms / 1e3
    limits = {"CPU": cores / compute_s, "request latency": threads / per_thread_s,
              "bandwidth": bandwidth_mb_s * 1e6 / bytes_in}
    worker_bound = min(limits, key=lambda k: limits[k])
    per_worker = limits[worker_bound]
    caps = {"scheduler tasks": summary["scheduler"]["tasks_per_s"] / base["tasks"]}
    if "gather" in summary:
        caps["relay via scheduler"] = (summary["gather"]["via_scheduler_mb_s"] * 1e6
                                       / base["gathered_bytes"])
    caps["client block writes"] = 1.0 / _run_min(report, f"local-t1-{method}",
                                                 "client_write_block_cpu_s")
    publish_s = chunks * base["publish_wall_s"]
    print(f"{method}: {chunks:,.0f} chunks; per chunk: compute {compute_s:.3f} CPU s, "
          f"{requests:.0f} requests, {bytes_in / 1e6:.1f} MB in, "
          f"{base['gathered_bytes'] / 1e6:.1f} MB gathered, {base['output_bytes'] / 1e6:.2f} MB "
          f"out; totals: {chunks * bytes_in / 1e12:.2f} TB in, "
          f"{chunks * base['output_bytes'] / 1e9:.0f} GB out, "
          f"{chunks * compute_s / 3600:.1f} CPU hours of compute")
    print(f"  per worker ({cores} cores, {threads} threads): {per_worker:.2f} chunks/s "
          f"(CPU alone {limits['CPU']:.2f}, {latency_ms:.0f} ms a request "
          f"{limits['request latency']:.2f}, {bandwidth_mb_s:.0f} MB/s "
          f"{limits['bandwidth']:.2f}); client caps: "
          + ", ".join(f"{k} {v:.0f}/s" for k, v in caps.items())
          + f"; COG conversion after the last block: {publish_s / 3600:.1f} h")
    for w in workers:
        rate = w * per_worker
        limit, name = min((v, k) for k, v in caps.items())
        bottleneck = f"workers ({worker_bound})" if rate <= limit else name
        rate = min(rate, limit)
        hours = chunks / rate / 3600
        print(f"  {w:>5} workers: {rate:7.1f} chunks/s, blocks {hours:6.2f} h + COGs "
              f"{publish_s / 3600:.1f} h; reads {rate * bytes_in / 1e9:6.2f} GB/s, "
              f"{rate * requests:8.0f} requests/s; bound by {bottleneck}")


def _run_min(report: dict[str, Any], case: str, key: str) -> float:
    """The minimum over a case's runs of one figure, per chunk."""
    return min(float(r[key]) / r["chunks"] for r in report["runs"][case])


def main() -> None:
    """Run the cases in subprocesses, repeat them, print and save the minima."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--json", type=Path, default=REPORT, help="where to write the report")
    parser.add_argument("--derive", action="store_true",
                        help="print the projections of docs/scaling.md from --json")
    parser.add_argument("--area-km2", type=float, default=550_000.0)
    parser.add_argument("--workers", default="10,100,1000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--bandwidth-mb-s", type=float, default=100.0)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one case here
    args = parser.parse_args()
    if args.one:
        run_one(args.one, args.size)
        return
    if args.derive:
        report = json.loads(args.json.read_text())
        for method in ("synthesis", "composite"):
            derive(report, method, args.area_km2, [int(w) for w in args.workers.split(",")],
                   args.threads, args.cores, args.bandwidth_mb_s, args.latency_ms)
        return
    wl.workload(args.size)
    engine = engine_version()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    runs: dict[str, list[dict[str, Any]]] = {}
    for case in args.cases.split(","):
        for _ in range(args.repeat):
            load = os.getloadavg()[0]
            out = subprocess.run([sys.executable, "-m", "tests.benchmarks.chunk_cost", "--one",
                                  case, "--size", str(args.size)], cwd=ROOT, env=env,
                                 capture_output=True, text=True, check=True, timeout=1800)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            figures["load_1min"] = load
            runs.setdefault(case, []).append(figures)
            print(json.dumps(figures), file=sys.stderr)
    summary: dict[str, Any] = {
        "size": args.size,
        "engine": engine,
        "engine_after": engine_version(),  # the tree is shared: it may move during a run
        "tile_bytes_per_chunk": tile_bytes_per_chunk(args.size),
        "cpu_count": os.cpu_count(),
    }
    print(f"\ncompressed input tiles per chunk: {summary['tile_bytes_per_chunk'] / 1e6:.2f} MB")
    print(f"{'case':<24}{'wall s':>8}{'cpu s':>8}{'client':>8}{'tasks':>7}{'out MB':>8}"
          f"{'req':>6}{'in MB':>7}{'peak MiB':>9}{'load':>11}")
    for case, figures in runs.items():
        loads = [f["load_1min"] for f in figures]
        if case == "gather":
            best = {key: min(f[key] for f in figures) for key in ("via_scheduler_s", "direct_s")}
            volume = figures[0]["blocks"] * figures[0]["block_bytes"]
            summary[case] = {"via_scheduler_mb_s": volume / best["via_scheduler_s"] / 1e6,
                             "direct_mb_s": volume / best["direct_s"] / 1e6,
                             "block_bytes": figures[0]["block_bytes"], "load_1min": loads}
            print(f"{case:<24} {summary[case]['via_scheduler_mb_s']:.0f} MB/s via the scheduler, "
                  f"{summary[case]['direct_mb_s']:.0f} MB/s direct, "
                  f"load {min(loads):.1f}-{max(loads):.1f}")
            continue
        if case == "scheduler":
            best = min(figures, key=lambda f: f["span_s"])
            summary[case] = {"tasks_per_s": best["tasks"] / best["span_s"],
                             "tasks_per_s_with_submission": best["tasks"] / best["wall_s"],
                             "tasks": best["tasks"], "load_1min": loads}
            print(f"{case:<24} {summary[case]['tasks_per_s']:.0f} tasks/s "
                  f"({summary[case]['tasks_per_s_with_submission']:.0f} with graph submission, "
                  f"{best['tasks']} tasks), load {min(loads):.1f}-{max(loads):.1f}")
            continue
        rows = [_per_chunk(f) for f in figures]
        best = {key: min(r[key] for r in rows) for key in rows[0]}
        best["peak_rss_mib"] = min(f["peak_rss_mib"] for f in figures)
        summary[case] = {"per_chunk_min": best, "load_1min": loads}
        print(f"{case:<24}{best['wall_s']:8.3f}{best['cpu_s']:8.3f}{best['client_cpu_s']:8.3f}"
              f"{best['tasks']:7.2f}{best['output_bytes'] / 1e6:8.2f}"
              f"{best.get('requests', float('nan')):6.0f}"
              f"{best.get('http_bytes', float('nan')) / 1e6:7.2f}{best['peak_rss_mib']:9.0f}"
              f"{min(loads):5.1f}-{max(loads):4.1f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"summary": summary, "runs": runs}, indent=2))
    print(f"\nwritten: {args.json}")


if __name__ == "__main__":
    main()
