"""From normalized items to a product: the whole data flow, one step a line.

``items -> select -> load -> masks -> cloud fields (synthesis) -> reduce -> write``

`build_product` reads top to bottom as that flow. The pixel work happens in `engine.blocks`
on blocks that each hold every observation of a window of pixels, so memory is bounded by
the block, not by the area. Blocks start on the inputs' tiles and are computed tile by tile
(`engine.blocking`), so that each input tile is decoded once (`engine.readers`); locally one
thread a core computes them (`engine.execution`), on a cluster each is a dask task. An order
larger than a part (`engine.parts`) is built part by part instead, each part one task that
computes its own cloud fields and blocks and writes its own COGs (`engine.part_tasks`); this
module then publishes the mosaic.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog.model import Grid, MaskFlavour, NormalizedItem, RasterAsset
from catalog.normalize import MAJA_NODATA
from engine import cloud_weight
from engine.blocking import Blocks, Reblocker, lattice_of, moved, plan_blocks
from engine.blocks import BlockContext, coarse_cloud_block, footprint_in_grid
from engine.contract import Order
from engine.errors import Cancelled, InvalidParameter
from engine.execution import (
    BlockInputs,
    BlockSink,
    Progress,
    announce_blocks,
    compute_block,
    compute_locally,
    log_received,
)
from engine.grid import output_grid
from engine.load import (
    BLOCK_LIMIT,
    CHUNK,
    CLOUD_CHUNK,
    LoadParams,
    chunk_for,
    load_assets,
    load_params,
    new_load_key,
    prefetch,
)
from engine.masks import cnn
from engine.methods import get_method
from engine.methods.base import Method
from engine.observations import Inputs, prepare
from engine.part_tasks import (
    PartJob,
    PartPlan,
    PartsProgress,
    part_cloud_fields,
    parts_on_cluster,
    run_part,
)
from engine.parts import part_side, split
from engine.readers import AHEAD_BYTES, ReadStats, end_session, source_infos
from engine.stac_item import product_item
from engine.write import (
    REFLECTANCE_DTYPE,
    REFLECTANCE_NODATA,
    REFLECTANCE_SCALE,
    LayerSpec,
    PartedProduct,
    ProductWriter,
)

if TYPE_CHECKING:
    # dask.array only for a cluster's graph (it imports xarray and pandas when installed: a
    # quarter of a local build's start-up): a local build reads its blocks directly.
    import dask.array as da

    # A local build never touches dask.distributed (a third of a second of import). Local
    # computes name dask's threaded scheduler by its function: by its name, dask imports
    # distributed to look for a default client.
    from distributed import Client

logger = logging.getLogger(__name__)


def cell_for(chunk: int) -> int:
    """The writer's cell for blocks of ``chunk``: whole 512 px cells, or whole blocks."""
    return max(CHUNK, chunk)


def _client(scheduler: str) -> Client:
    """The client of the cluster at ``scheduler`` (dask.distributed imported only then)."""
    from engine.cluster import get_client

    return get_client(scheduler)

@dataclass
class Plan:
    """The computation of an order: its grid, inputs, blocks and what each block reads."""

    order: Order
    grid: Grid
    items: list[NormalizedItem]
    method: Method
    context: BlockContext
    dn: LoadParams
    masks: LoadParams  # read with ``context.overlap`` pixels of margin
    #: Chunked in whole 240 m cells, for the cloud-field pass on a cluster (None: the method
    #: has none, the pass runs here on direct reads, or the parts compute their own).
    cloud_masks: da.Array | None
    aot: LoadParams | None
    blocks: Blocks
    layer_keys: list[str] = field(default_factory=list)
    #: Where the CNN masks the loads read are computed (None: the chain has no CNN).
    cnn_window: cnn.CnnWindow | None = None
    #: The read session of every load of the plan (`engine.readers`): shared open files,
    #: decoded tiles and counters. `finish` ends it.
    session: str = ""
    #: The parts of an order larger than a part (`engine.parts`); empty: one part, ``blocks``.
    parts: tuple[PartPlan, ...] = ()

    @property
    def chunk(self) -> int:
        """The block side (`engine.load.chunk_for`); blocks on the grid's edges are smaller."""
        return self.blocks.step

    @property
    def cell(self) -> int:
        """The writer's cell (`ProductWriter`'s ``block``): a part's side is a multiple of it."""
        return cell_for(self.chunk)

    @property
    def inputs(self) -> BlockInputs:
        """What the blocks read."""
        return BlockInputs(self.context, self.dn, self.masks, self.aot, self.session)


def _with_cnn_masks(items: Sequence[NormalizedItem], window: cnn.CnnWindow,
                    folder: Path) -> list[NormalizedItem]:
    """Copies of the items whose ``masks.cnn`` names their cached CNN mask."""
    return [replace(item, masks=replace(item.masks, cnn=RasterAsset(
        key=cnn.ASSET, href=str(cnn.cache_path(folder, item, window, cnn.model_bands(item))),
        nodata=cnn.NODATA, dtype="uint8", grid=window.grid))) for item in items]


def plan(order: Order, items: Sequence[NormalizedItem],
         gdal_options: Mapping[str, Any] | None = None,
         mask_cache: Path | None = None, part_size: int | None = None,
         reads_here: bool = True) -> Plan:
    """Check the order against its items and build the lazy arrays (no pixel is read).

    ``mask_cache`` is the folder of computed masks (CNN masks, `engine.masks.cnn`); a chain
    with the CNN needs one. `compute_masks` fills it before the arrays are computed.
    ``part_size`` (pixels of the output grid; None: no limit) splits a larger grid into
    parts, each computed and written on its own (`engine.parts`). ``reads_here``: this
    process reads the blocks (no cluster), so its tile cache is told what each block reads;
    on a cluster the workers read (and a worker's part tells its own cache).
    """
    grid = output_grid(order.bbox, order.resolution, order.epsg, order.bounds)
    method = get_method(order.method, order.period)
    inputs = prepare(items, order.period, order.bands, order.cloud_mask, method)
    bands = inputs.bands
    dilation_px = int(np.ceil(order.cloud_dilation_m / order.resolution))
    if dilation_px > CHUNK // 2:
        raise InvalidParameter("cloud_dilation", f"at most {CHUNK // 2 * order.resolution} m")
    context = BlockContext(
        method=method,
        bands=bands,
        output_bands=tuple(bands.index(b) for b in order.bands),
        flavour=inputs.flavour,
        groups=inputs.groups,
        scale=inputs.scale,
        offset=inputs.offset,
        days=inputs.days,
        aot_scale=inputs.aot_scale,
        chain=inputs.chain,
        dilation_px=dilation_px,
        factor=cloud_weight.coarse_factor(order.resolution),
        footprint=footprint_in_grid(order.geometry, grid) if order.geometry else None,
        grid_transform=grid.transform,
    )
    session = new_load_key()  # every load of the build shares its open files and tiles
    try:
        return _plan_reads(order, inputs, grid, method, context, gdal_options, mask_cache,
                           session, part_size, reads_here)
    except BaseException:
        end_session(session)  # what it opened and announced goes with it
        raise


def _plan_reads(order: Order, inputs: Inputs, grid: Grid, method: Method,
                context: BlockContext, gdal_options: Mapping[str, Any] | None,
                mask_cache: Path | None, session: str, part_size: int | None,
                reads_here: bool) -> Plan:
    """The reads of a plan: what each load reads, the blocks, the tiles they share."""
    items, flavour, bands = list(inputs.items), inputs.flavour, inputs.bands
    reflectance_resampling = "average" if order.resolution > 10 else "nearest"
    chunk = chunk_for(items, grid, bands, gdal_options=gdal_options, load=session,
                      limit=BLOCK_LIMIT // method.memory_factor)

    def params(names: Sequence[str], **how: Any) -> LoadParams:
        return load_params(items, grid, names, gdal_options=gdal_options, **how)

    if flavour is MaskFlavour.SCL:
        dn = params(bands, resampling=reflectance_resampling)
        mask_assets = ["scl"]
    else:
        dn = params(bands, dtype="int16", fill_value=MAJA_NODATA,
                    resampling=reflectance_resampling)
        mask_assets = ["clm", "mg2"]
    window: cnn.CnnWindow | None = None
    if inputs.chain.cnn:
        if mask_cache is None:
            raise ValueError("a cloud mask chain with the CNN needs a mask cache folder")
        window = cnn.window_for(grid)
        items = _with_cnn_masks(items, window, mask_cache)
        mask_assets.append(cnn.ASSET)
    masks = params(mask_assets, dtype="uint8")
    aot = params(["aot"]) if inputs.has_aot else None
    lattice = lattice_of(source_infos(
        session, {href for row in dn.hrefs for href in row if href}, dn.env).values(), grid)
    blocks = plan_blocks(grid, chunk, lattice)
    pieces = split(grid.shape, part_side(part_size, cell_for(chunk))) if part_size else []
    parts = tuple(PartPlan(piece, plan_blocks(piece.grid(grid), chunk,
                                              moved(lattice, piece.offset)))
                  for piece in pieces) if len(pieces) > 1 else ()
    if reads_here:
        # Not on a cluster: for a country-sized order it would be minutes of the client's
        # time for a cache the workers do not share.
        announce_blocks(BlockInputs(context, dn, masks, aot, session),
                        [w for part in parts for w in part.windows()] if parts
                        else blocks.windows())
    # The cloud pass's lazy masks, for a cluster's graph: locally the pass reads its blocks
    # directly, and in parts each part computes its own cells (`part_cloud_fields`).
    cloud_masks = (load_assets(items, grid, mask_assets, dtype="uint8", chunk=CLOUD_CHUNK,
                               gdal_options=gdal_options, load=session)
                   if method.needs_cloud_weight and not parts and not reads_here else None)
    keys = [*order.bands, *(q.key for q in method.quality)]
    return Plan(order, grid, items, method, context, dn, masks, cloud_masks, aot, blocks,
                keys, window, session=session, parts=parts)


def finish(p: Plan, client: Client | None) -> ReadStats:
    """End the plan's read session (free its cached tiles) and return what it read.

    On a cluster the reads happened in the workers: each reports and forgets its share.
    """
    stats = ReadStats()
    stats.add(end_session(p.session))
    if client is not None:
        for counters in client.run(end_session, p.session).values():
            stats.add(counters)
    return stats


def _overlapped(masks: da.Array, overlap: int) -> da.Array:
    import dask.array as da

    if overlap == 0:
        return masks
    # Pad with 0 (nodata for SCL, clear for MAJA): padding never creates or grows a cloud.
    return da.overlap.overlap(masks, depth={0: 0, 1: 0, 2: overlap, 3: overlap}, boundary=0)


def _compute(array: da.Array, client: Client | None) -> np.ndarray:
    """One dask array into memory: on the cluster when there is one, else on local threads."""
    if client is None:
        from dask.threaded import get as threaded_get

        return np.asarray(array.compute(scheduler=threaded_get))
    return np.asarray(client.compute(array).result())


def compute_masks(p: Plan, client: Client | None, gdal_options: Mapping[str, Any] | None = None,
                  report: Progress | None = None, cancel: threading.Event | None = None,
                  ) -> int:
    """Pass 0: the CNN masks the plan reads that are not cached yet; how many were computed.

    One task per item, each reading its bands on the coarse window and running the network
    on one thread: on a cluster, workers compute them like any other task; locally, a dask
    threaded pool of the machine's cores.
    """
    window = p.cnn_window
    named = [(item, Path(item.masks.cnn.href)) for item in p.items if item.masks.cnn]
    missing = [(item, path) for item, path in named if not cnn.is_readable(path)]
    if window is None or not missing:
        return 0
    tell = report or (lambda fraction, message: None)
    # dask only here: a local build with cached masks, or none, does not import it.
    from dask.base import compute as dask_compute
    from dask.delayed import delayed
    from dask.threaded import get as threaded_get

    tasks = [delayed(cnn.mask_item, pure=False)(item, window, path, gdal_options, p.session)
             for item, path in missing]
    if client is None:
        # In rounds of the pool's size, so that progress and cancellation are seen.
        step = max(1, os.cpu_count() or 1)
        for start in range(0, len(tasks), step):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the caller")
            dask_compute(*tasks[start:start + step], scheduler=threaded_get,
                         num_workers=step)
            tell(min(start + step, len(tasks)) / len(tasks),
                 f"cloud masks {min(start + step, len(tasks))}/{len(tasks)}")
        return len(tasks)
    futures = client.compute(tasks)
    try:
        from distributed import as_completed

        for done, _ in enumerate(as_completed(futures, loop=client.loop), start=1):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled by the caller")
            tell(done / len(tasks), f"cloud masks {done}/{len(tasks)}")
    finally:
        client.cancel(futures)
    return len(tasks)


def cloud_fields(p: Plan, client: Client | None) -> Plan:
    """Pass 1: the coarse cloud fields of the whole order, blurred (only for the synthesis).

    Locally the masks are read block by block on this machine's threads
    (`engine.part_tasks.part_cloud_fields` over the whole grid); on a cluster each block of
    shares is a dask task. An order in parts computes its fields part by part instead.
    """
    if not p.method.needs_cloud_weight or p.parts:
        return p
    if client is None:
        # Remote masks requested at once (they are small: 12 dates of SCL over 2048 px at
        # 20 m are 48 MB), rather than a block's at a time.
        whole = (0, p.grid.shape[0], 0, p.grid.shape[1])
        prefetch(p.masks, p.session, whole, budget=AHEAD_BYTES)
        inputs = part_cloud_fields(p.inputs, whole, p.grid.shape, os.cpu_count() or 1)
        return replace(p, context=inputs.context)
    import dask.array as da

    if p.cloud_masks is None:
        raise ValueError("a plan for a cluster without its cloud masks' lazy array")
    f = p.context.factor
    out_chunks = (
        (len(p.context.groups),),
        (1,),
        tuple(-(-c // f) for c in p.cloud_masks.chunks[2]),
        tuple(-(-c // f) for c in p.cloud_masks.chunks[3]),
    )
    # 4-D in, 4-D out, so that the read fuses with the reduction (see `result_array`).
    coarse = da.map_blocks(
        _coarse_entry, _overlapped(p.cloud_masks, p.context.overlap), ctx=p.context,
        chunks=out_chunks, dtype=np.float32,
    )
    fraction = _compute(coarse[:, 0], client)
    gs, gl = cloud_weight.blurred_cloud_fields(fraction)
    return replace(p, context=replace(p.context, gs=gs, gl=gl))


def _coarse_entry(masks: np.ndarray, ctx: BlockContext) -> np.ndarray:
    return coarse_cloud_block(masks, ctx)[:, None]


def result_array(p: Plan) -> da.Array:
    """Pass 2, lazily: the stacked output layers (bands, then quality), float32 (L, Y, X).

    One task per block, which reads and reduces it (`compute_block`); on a cluster, workers
    compute them like any other task.
    """
    import dask.array as da

    layers = len(p.layer_keys)
    template = da.zeros((layers, *p.grid.shape), dtype=np.float32,
                        chunks=((layers,), p.blocks.rows, p.blocks.cols))
    result: da.Array = da.map_blocks(
        _block_entry, template, inputs=p.inputs, dtype=np.float32,
        meta=np.empty((0, 0, 0), dtype=np.float32),
    )
    return result


def _block_entry(template: np.ndarray, inputs: BlockInputs,
                 block_info: dict[Any, Any] | None = None) -> np.ndarray:
    assert block_info is not None
    _, (r0, r1), (c0, c1) = block_info[None]["array-location"]
    return compute_block(inputs, (r0, r1, c0, c1))


def layer_specs(p: Plan) -> list[LayerSpec]:
    """How each output layer is stored."""
    specs = [LayerSpec(b, REFLECTANCE_DTYPE, REFLECTANCE_NODATA, "AVERAGE", REFLECTANCE_SCALE)
             for b in p.order.bands]
    for q in p.method.quality:
        continuous = q.dtype.startswith("float")
        specs.append(LayerSpec(q.key, q.dtype, q.nodata, "AVERAGE" if continuous else "NEAREST"))
    return specs


def build_product(
    order: Order,
    items: Sequence[NormalizedItem],
    out_dir: Path | str,
    *,
    product_id: str | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    gdal_options: Mapping[str, Any] | None = None,
    mask_cache: Path | str | None = None,
    part_size: int | None = None,
) -> Path:
    """Build a product folder (COGs + item.json) at ``out_dir``, atomically.

    ``scheduler`` is a dask.distributed address (None: a local cluster); ``gdal_options``
    are layered over `engine.load.GDAL_ENV` for every read, on every worker. ``mask_cache``
    keeps computed cloud masks (`engine.masks.cnn`) for later builds over the same scenes
    (on a cluster, a folder every worker sees); None: a temporary folder for this build.
    ``part_size``: a grid larger than this many pixels a side is built in parts, each
    written by the worker that computes it into ``out_dir``'s staging folder (on a cluster,
    a folder every worker sees), and presented as one mosaic per layer (`engine.parts`).

    Raises:
        NoObservations: no item in the period's window.
        InvalidParameter: a parameter is out of its domain.
        Cancelled: ``cancel`` was set; nothing is left at ``out_dir``.

    """
    with tempfile.TemporaryDirectory(prefix="l3a-masks-") as scratch:
        return _build(order, items, Path(out_dir), product_id, scheduler,
                      progress or (lambda fraction, message: None), cancel, gdal_options,
                      Path(mask_cache) if mask_cache is not None else Path(scratch), part_size)


def _build(order: Order, items: Sequence[NormalizedItem], out_dir: Path,
           product_id: str | None, scheduler: str | None, report: Progress,
           cancel: threading.Event | None, gdal_options: Mapping[str, Any] | None,
           mask_cache: Path, part_size: int | None) -> Path:
    client = _client(scheduler) if scheduler else None
    p = plan(order, items, gdal_options, mask_cache, part_size, reads_here=client is None)
    try:
        return _build_plan(p, out_dir, product_id, client, report, cancel, gdal_options)
    finally:
        reads = finish(p, client).as_dict()
        logger.info("reads: %(requests)d requests (%(opens)d opens, %(reopens)d reopens, "
                    "%(tiles)d tiles, "
                    "%(warped)d warped windows), %(bytes)d compressed bytes, %(cache_hits)d "
                    "tile cache hits, %(redecoded)d tiles decoded again, %(spilled)d tiles "
                    "spilled to disk and %(unspilled)d read back", reads)


def _build_plan(p: Plan, out_dir: Path, product_id: str | None, client: Client | None,
                report: Progress, cancel: threading.Event | None,
                gdal_options: Mapping[str, Any] | None) -> Path:
    order = p.order
    report(0.02, f"{len(p.items)} scenes, grid {p.grid.shape[1]} x {p.grid.shape[0]}")
    compute_masks(p, client, gdal_options,
                  lambda fraction, message: report(0.02 + 0.08 * fraction, message), cancel)
    p = cloud_fields(p, client)
    report(0.1, "cloud weights ready" if p.method.needs_cloud_weight else "loading")
    item = product_item(
        product_id=product_id or out_dir.name, grid=p.grid, period=order.period,
        method=order.method, bands=order.bands, quality=p.method.quality, inputs=p.items,
        parameters={**order.parameters(), "cloud_mask_chain": p.context.chain.name},
        geometry=order.geometry, parts=[(pp.part.id, pp.part.grid(p.grid)) for pp in p.parts],
    )
    if p.parts:
        return _build_parts(p, out_dir, item, client, report, cancel)
    with ProductWriter(out_dir, p.grid, layer_specs(p), block=p.cell) as writer:
        sink = BlockSink(Reblocker(p.grid.shape, p.cell, len(p.layer_keys), writer.write_block),
                         len(p.blocks.order),
                         lambda fraction, message: report(0.1 + 0.87 * fraction, message),
                         cancel)
        if client is None:
            compute_locally(p.inputs, p.blocks.windows(), sink)
        else:
            _compute_on_cluster(p, client, sink)
        if cancel is not None and cancel.is_set():  # after the last block, before publishing
            raise Cancelled("cancelled by the caller")
        report(0.97, "writing COGs")
        path = writer.publish(item)
    report(1.0, "done")
    return path


def _part_jobs(p: Plan, folder: Path, specs: Sequence[LayerSpec],
               topic: str | None = None) -> list[PartJob]:
    """The parts' tasks.

    With the ``topic`` of a cluster's events, each also tells its worker's tile cache what it
    reads (locally the plan told the process's one cache).
    """
    return [PartJob(p.inputs, pp, p.grid, tuple(specs), p.cell, folder,
                    announce=topic is not None, progress_topic=topic) for pp in p.parts]


def _build_parts(p: Plan, out_dir: Path, item: dict[str, Any], client: Client | None,
                 report: Progress, cancel: threading.Event | None) -> Path:
    """Build an order in parts: each part written by whoever computes it, then the mosaic."""
    specs = layer_specs(p)
    progress = PartsProgress([pp.part.id for pp in p.parts], report)
    with PartedProduct(out_dir, p.grid, specs, [pp.part for pp in p.parts],
                       p.cell) as product:
        if client is None:
            threads = max(1, os.cpu_count() or 1)
            for job in _part_jobs(p, product.staging, specs):
                result = run_part(job, threads, progress.reporter(job.part.part.id), cancel)
                product.add(result)
                progress.done(result.id)
        else:
            topic = f"l3a-progress-{p.session}"
            jobs = _part_jobs(p, product.staging, specs, topic)
            for result in parts_on_cluster(client, jobs, cancel, topic, progress):
                product.add(result)
                progress.done(result.id)
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the caller")
        report(0.97, "writing the mosaic")
        path = product.publish(item)
    report(1.0, "done")
    return path


def _compute_on_cluster(p: Plan, client: Client, sink: BlockSink) -> None:
    """Every block on the cluster's workers; each comes back here to be written."""
    result = result_array(p)
    starts = [np.cumsum((0, *c)) for c in result.chunks]
    blocks = result.to_delayed().ravel()
    where = [np.unravel_index(i, result.numblocks) for i in range(len(blocks))]
    futures = client.compute(list(blocks))
    index = {f.key: i for i, f in enumerate(futures)}
    from distributed import as_completed

    received = 0
    try:
        for future in as_completed(futures, loop=client.loop):
            _, by, bx = where[index[future.key]]
            window = (int(starts[1][by]), int(starts[1][by + 1]), int(starts[2][bx]),
                      int(starts[2][bx + 1]))
            block = future.result()
            received += block.nbytes
            sink.put(window, block)
            future.release()
    finally:
        client.cancel(futures)
    log_received(received, len(futures), "blocks")


def compute_layers(order: Order, items: Sequence[NormalizedItem],
                   scheduler: str | None = None, mask_cache: Path | None = None,
                   ) -> tuple[list[str], np.ndarray, Plan]:
    """The output layers in memory, for tests and quality benchmarks: (keys, (L, Y, X), plan).

    CNN masks are cached in ``mask_cache``, by default a temporary folder of this call.
    """
    client = _client(scheduler) if scheduler else None
    with tempfile.TemporaryDirectory(prefix="l3a-masks-") as scratch:
        p = plan(order, items, mask_cache=mask_cache or Path(scratch),
                 reads_here=client is None)
        try:
            compute_masks(p, client)
            p = cloud_fields(p, client)
            return p.layer_keys, _compute(result_array(p), client), p
        finally:
            finish(p, client)
