"""Writing a product: one COG per asset and a STAC item, made visible atomically.

Blocks arrive in any order (as workers finish), so they are first written into uncompressed
tiled GeoTIFFs in a staging folder, which take windows in any order at memory cost of one
block. Each block's overviews (2x, 4x, ... down to the COG tile size) are computed from it
right away, in the thread that computed the block, and staged the same way: a block aligned
on the loader's chunks holds every pixel that its overview pixels summarise. At the end a
VRT presents each layer with its staged overviews, and GDAL's COG driver copies it once
(``OVERVIEWS=FORCE_USE_EXISTING``) into ordered, compressed tiles, byte-identical for equal
input. Measured on 14 layers of 2048^2: 0.4 s against 1.4 s when the COG driver computed
the overviews itself (its overview pass, not the compression, was most of the time). The
staging folder is renamed into place only when every file is complete: a reader sees the
whole product or none of it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.env
import rasterio.shutil
from rasterio.windows import Window

from catalog.model import Grid
from engine.parts import Part, mosaic_vrts, part_file

#: Output reflectance: int16 DN = round(reflectance * 10000), as MAJA and WASP write it. Half
#: the bytes of float32, and exact to the 1e-4 that L2A inputs carry anyway.
REFLECTANCE_SCALE = 1e-4
REFLECTANCE_DTYPE = "int16"
REFLECTANCE_NODATA = -32768
#: GDAL block cache of the writing process, in MB (see `ProductWriter.__enter__`).
WRITER_GDAL_CACHE_MB = 64


@dataclass(frozen=True)
class LayerSpec:
    """One output file: asset key, data type, nodata, overview resampling."""

    key: str
    dtype: str
    nodata: float | None
    resampling: str  # AVERAGE for continuous values, NEAREST for classes and counts
    scale: float = 1.0


#: Tile size of the COGs; overviews go down to the first level that fits in one tile.
COG_BLOCKSIZE = 256

# ZSTD level 1: on 14 layers of 2048^2 it encodes in half the time of
# DEFLATE level 1 (0.39 s against 0.75 s) for files 9 % larger; every GDAL since 2.3 reads
# it, and so do rasterio wheels, QGIS and TiTiler. The predictor (horizontal differencing;
# floating-point for float32) makes files ~12 % smaller at no measurable cost; it is left off
# for uint8 class layers, which it does not help.
_COG_OPTIONS: dict[str, Any] = {
    "COMPRESS": "ZSTD",
    "LEVEL": 1,
    "BLOCKSIZE": COG_BLOCKSIZE,
    "BIGTIFF": "IF_SAFER",
    "STATISTICS": "NO",
}


def _encode(values: npt.NDArray[np.float32], spec: LayerSpec) -> npt.NDArray[Any]:
    """Float32 block values to the layer's stored type (NaN -> nodata, or 0 without one)."""
    missing = np.isnan(values)
    if spec.scale != 1.0:
        values = np.rint(values / np.float32(spec.scale))
    if not np.issubdtype(np.dtype(spec.dtype), np.integer):
        out = values.astype(spec.dtype)
        if spec.nodata is not None:
            out[missing] = spec.nodata
        return out
    info = np.iinfo(spec.dtype)
    low = info.min + 1 if spec.nodata == info.min else info.min
    # Clip keeps NaN, whose cast gives an arbitrary integer: those pixels are set just after.
    # (np.nan_to_num first was a third of the writer's time.)
    clipped = np.clip(values, low, info.max)
    with np.errstate(invalid="ignore"):
        out = clipped.astype(spec.dtype)
    if missing.any():
        out[missing] = 0 if spec.nodata is None else spec.nodata
    return out


def overview_factors(shape: tuple[int, int], block: int) -> tuple[int, ...]:
    """Decimation factors of the overviews: 2, 4, ... until a level fits in one COG tile.

    This is the series GDAL's COG driver would choose, capped at ``block`` (the writer's
    blocks must hold whole overview pixels).
    """
    factors: list[int] = []
    factor = 2
    while max(math.ceil(n / (factor // 2)) for n in shape) > COG_BLOCKSIZE and factor <= block:
        factors.append(factor)
        factor *= 2
    return tuple(factors)


def halve(values: npt.NDArray[np.float32], resampling: str) -> npt.NDArray[np.float32]:
    """One overview level of a block: 2 x 2 pixels to one (NaN = no data).

    ``AVERAGE`` is the mean of the valid pixels of the 2 x 2 cell (NaN if none); ``NEAREST``
    keeps its top-left pixel, a value that exists (classes and counts must not be averaged).
    An odd last row or column makes a cell of its own, as GDAL sizes overviews (ceil).
    """
    if resampling == "NEAREST":
        return values[::2, ::2]
    height, width = values.shape
    if height % 2 or width % 2:
        padded = np.full((height + height % 2, width + width % 2), np.nan, np.float32)
        padded[:height, :width] = values
        values = padded
    # The four pixels of each cell as strided views: elementwise arithmetic on them is
    # several times faster than a reduction over the axes of a (h, 2, w, 2) reshape.
    corners = (values[0::2, 0::2], values[0::2, 1::2], values[1::2, 0::2], values[1::2, 1::2])
    total = corners[0] + corners[1] + corners[2] + corners[3]
    if not np.isnan(total).any():  # the common case: every cell complete
        mean: npt.NDArray[np.float32] = total * np.float32(0.25)
        return mean
    count = np.zeros(total.shape, np.float32)
    total = np.zeros(total.shape, np.float32)
    for corner in corners:
        valid = ~np.isnan(corner)
        count += valid
        total += np.where(valid, corner, np.float32(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.float32(np.nan))
    return mean


def copy_as_cog(source: Path, target: Path, dtype: str, threads: int = 1) -> None:
    """Copy a raster and the overviews it carries into a COG with the product's options.

    ``threads`` compress its tiles (GDAL's ``NUM_THREADS``).
    """
    predictor = "NO" if dtype == "uint8" else "YES"
    rasterio.shutil.copy(source, target, driver="COG", OVERVIEWS="FORCE_USE_EXISTING",
                         PREDICTOR=predictor, NUM_THREADS=threads, **_COG_OPTIONS)


def hidden_beside(path: Path) -> Path:
    """A hidden name beside ``path`` for what becomes ``path`` in one rename.

    Readers skip hidden names (`api.tiles.products`), and the service removes leftovers
    of this form at start (`api.jobs.publish.clean_staging`).
    """
    return path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"


class _Staged:
    """A product folder staged under a hidden name and renamed into place with its item.

    As a context manager, an exception removes the staging folder: nothing appears at
    ``out_dir``.
    """

    out_dir: Path
    staging: Path

    def _check_free(self) -> None:
        if self.out_dir.exists():
            raise FileExistsError(f"{self.out_dir} exists already")

    def _finish(self, item: dict[str, Any]) -> Path:
        """Write ``item.json`` into the staging folder and rename the folder into place."""
        text = json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (self.staging / "item.json").write_text(text, encoding="utf-8")
        os.replace(self.staging, self.out_dir)
        return self.out_dir

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        remove_staging(self.staging)


#: Seconds `remove_staging` keeps trying while a worker's last writes end.
STAGING_REMOVAL_S = 5.0


def remove_staging(staging: Path) -> None:
    """Remove a staging folder that a cluster worker may still be writing into.

    dask cannot stop a running task: after a cancel, a part may still create a file in the
    folder while `shutil.rmtree` empties it, and rmtree then cannot remove the folder (seen
    in CI: a cancelled order in parts left its staging folder with a part's file). So the
    folder is first renamed, atomically, to another hidden name: the part's next file fails,
    as its folder is gone (`PartWriter` never creates it). What it still writes through
    files it has open lands in the renamed folder, which is removed until it stays removed,
    for at most `STAGING_REMOVAL_S` (the service removes any leftover at start).
    """
    if not staging.exists():
        return
    trash = hidden_beside(staging)
    try:
        os.replace(staging, trash)
    except OSError:
        trash = staging
    deadline = time.monotonic() + STAGING_REMOVAL_S
    while True:
        shutil.rmtree(trash, ignore_errors=True)
        if not trash.exists() or time.monotonic() > deadline:
            return
        time.sleep(0.05)


class ProductWriter(_Staged):
    """Stage, fill and publish a product folder.

    Use as a context manager: on an exception the staging folder is removed and nothing
    appears at ``out_dir``. `write_block` may be called from several threads at once.

    Args:
        out_dir: the product folder to create.
        grid: the output grid.
        layers: one spec per layer, in the order of a block's first axis.
        block: the size of the blocks that will be written, whose windows start at multiples
            of it; it bounds the overview factors.

    """

    def __init__(self, out_dir: Path, grid: Grid, layers: Sequence[LayerSpec],
                 block: int = 512) -> None:
        self.out_dir = Path(out_dir)
        self.grid = grid
        self.layers = tuple(layers)
        self.factors = overview_factors(grid.shape, block)
        self.staging = hidden_beside(self.out_dir)
        # datasets[level][layer]; level 0 is the full resolution, level k the factor 2^k.
        self._datasets: list[list[Any]] = []
        # GDAL datasets are not thread-safe: computing blocks is parallel, writing them is not.
        self._lock = threading.Lock()

    def _raw(self, spec: LayerSpec, factor: int) -> Path:
        return self.staging / "raw" / (f"{spec.key}.tif" if factor == 1 else
                                       f"{spec.key}.ovr{factor}.tif")

    def __enter__(self) -> Self:
        # GDAL keeps written blocks in its cache (5 % of RAM by default) before flushing them:
        # the process would grow with the product's area. A small cache bounds the writer.
        rasterio.env.set_gdal_config("GDAL_CACHEMAX", WRITER_GDAL_CACHE_MB)
        self._check_free()
        self._make_staging()
        height, width = self.grid.shape
        transform = rasterio.Affine(*self.grid.transform)
        for factor in (1, *self.factors):
            level = []
            for spec in self.layers:
                profile = {
                    "driver": "GTiff",
                    "width": math.ceil(width / factor),
                    "height": math.ceil(height / factor),
                    "count": 1,
                    "dtype": spec.dtype,
                    "nodata": spec.nodata,
                    "crs": f"EPSG:{self.grid.epsg}",
                    "transform": transform @ rasterio.Affine.scale(factor),
                    "tiled": True,
                    "blockxsize": COG_BLOCKSIZE,
                    "blockysize": COG_BLOCKSIZE,
                    "BIGTIFF": "IF_SAFER",
                }
                level.append(rasterio.open(self._raw(spec, factor), "w", **profile))
            self._datasets.append(level)
        return self

    def _make_staging(self) -> None:
        (self.staging / "raw").mkdir(parents=True)

    def write_block(self, rows: slice, cols: slice, block: npt.NDArray[np.float32]) -> None:
        """Write a stacked block (one layer per spec, in order) at its window, with overviews."""
        step = self.factors[-1] if self.factors else 1  # every factor divides the last
        if rows.start % step or cols.start % step:
            raise ValueError(f"block at ({rows.start}, {cols.start}) is not aligned on "
                             f"{step} pixels")
        # Encode every level first, outside the lock: this is the arithmetic of the writer.
        levels: list[list[npt.NDArray[Any]]] = [[] for _ in range(len(self.factors) + 1)]
        for spec, values in zip(self.layers, block, strict=True):
            current = values
            levels[0].append(_encode(current, spec))
            for level in range(1, len(self.factors) + 1):
                current = halve(current, spec.resampling)
                levels[level].append(_encode(current, spec))
        with self._lock:
            for level, (factor, encoded) in enumerate(zip((1, *self.factors), levels,
                                                          strict=True)):
                height, width = encoded[0].shape
                window = Window(cols.start // factor, rows.start // factor, width, height)
                for dataset, data in zip(self._datasets[level], encoded, strict=True):
                    dataset.write(data, 1, window=window)

    def publish(self, item: dict[str, Any]) -> Path:
        """Convert every layer to a COG, write ``item.json``, move the folder into place."""
        self._convert()
        return self._finish(item)

    def _convert(self, cpus: int | None = None) -> None:
        """Every staged layer to ``<key>.tif`` (a COG) in the staging folder; raw files gone.

        ``cpus``: the cores to use (None: the machine's).
        """
        self._close()
        # Layers in parallel (GDAL releases the GIL), each compressed by as many threads as
        # there are cores per layer: one, unless there are more cores than layers. Measured on
        # 14 layers of 2048^2 on 2 cores: 0.30-0.33 s, against 0.41-0.45 s when each copy
        # ran GDAL's multithreaded compression, whose thread pools cost more than they give.
        cpus = cpus or os.cpu_count() or 1
        threads = max(1, cpus // max(1, len(self.layers)))
        with ThreadPoolExecutor(max_workers=cpus) as pool:
            list(pool.map(lambda spec: self._to_cog(spec, threads), self.layers))
        shutil.rmtree(self.staging / "raw")

    def _to_cog(self, spec: LayerSpec, threads: int) -> None:
        raw = self._raw(spec, 1)
        vrt = raw.with_suffix(".vrt")
        rasterio.shutil.copy(raw, vrt, driver="VRT")
        # GDAL's VRT format declares a band's overviews explicitly, each from its own file.
        tree = ET.parse(vrt)
        band = tree.getroot().find("VRTRasterBand")
        if band is None:
            raise RuntimeError(f"GDAL wrote a VRT without a band for {spec.key}")
        for factor in self.factors:
            overview = ET.SubElement(band, "Overview")
            source = ET.SubElement(overview, "SourceFilename", relativeToVRT="1")
            source.text = self._raw(spec, factor).name
            ET.SubElement(overview, "SourceBand").text = "1"
        tree.write(vrt)
        copy_as_cog(vrt, self.staging / f"{spec.key}.tif", spec.dtype, threads)

    def _close(self) -> None:
        for level in self._datasets:
            for dataset in level:
                dataset.close()
        self._datasets = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()
        super().__exit__(exc_type, exc, tb)


class PartWriter(ProductWriter):
    """Stage, fill and write one part of a product into the product's staging folder.

    The part is written as a product of its own grid (`engine.parts.Part.grid`);
    `publish_part` converts its layers to COGs and puts them into ``folder`` as
    ``<key>.<part>.tif``. The uncompressed staging files go in ``scratch`` when given (a
    worker's own disk: on a shared filesystem they would cross the network three times,
    written, read back and written again as COGs), else beside the product in ``folder``.
    A part never creates ``folder``: once a cancelled or failed build has removed it, a part
    still running on a worker fails instead of leaving files behind.
    """

    def __init__(self, folder: Path, part: Part, grid: Grid, layers: Sequence[LayerSpec],
                 block: int = 512, scratch: Path | None = None) -> None:
        super().__init__(Path(scratch or folder) / f".{part.id}", part.grid(grid), layers,
                         block)
        self.folder, self.part = Path(folder), part
        # The whole product's overview levels, not the part's own: its cells then make the
        # same overview pixels as a one-part build's, and the mosaic has every level.
        self.factors = overview_factors(grid.shape, block)

    def _make_staging(self) -> None:
        if not self.folder.is_dir():  # removed by a cancelled or failed build
            raise FileNotFoundError(f"{self.folder} is gone: the build has ended")
        # No parents: in ``folder`` this also fails once a cancelled build has removed it
        # after the check above; a worker's scratch directory is always there.
        self.staging.mkdir()
        (self.staging / "raw").mkdir()

    def publish_part(self, cpus: int | None = None) -> list[str]:
        """Convert the part's layers to COGs and put them beside the others; their names.

        ``cpus``: the cores the conversion may use (None: the machine's); on a worker, the
        task's one thread, as the worker's other threads convert other parts. Each file
        appears under its name whole (copied under a hidden name first, then renamed: a
        worker lost during the copy leaves no truncated part to be taken for one).
        """
        self._convert(cpus)
        names = []
        for spec in self.layers:
            name = part_file(spec.key, self.part.id)
            hidden = hidden_beside(self.folder / name)
            shutil.move(self.staging / f"{spec.key}.tif", hidden)
            os.replace(hidden, self.folder / name)
            names.append(name)
        shutil.rmtree(self.staging)
        return names


class PartedProduct(_Staged):
    """The staging folder of a product built in parts, made the product once every part is in.

    Parts are written into ``staging`` by `PartWriter` (on any worker that sees the folder)
    and reported with `add`. `publish` writes each layer's mosaics (`engine.parts.mosaic_vrts`)
    and the item, and renames the folder into place: readers see the whole product or none.
    On an exception the staging folder goes, and with it every part written so far.
    """

    def __init__(self, out_dir: Path, grid: Grid, layers: Sequence[LayerSpec],
                 parts: Sequence[Part], block: int = 512) -> None:
        # Absolute: the staging folder travels to the workers, whose working directory is
        # theirs, not this process's.
        self.out_dir, self.grid, self.layers = Path(out_dir).absolute(), grid, tuple(layers)
        self.parts = tuple(parts)
        self.staging = hidden_beside(self.out_dir)
        # The overview levels every part has (`PartWriter`): the mosaic declares them.
        self.factors = overview_factors(grid.shape, block)
        self._done: set[str] = set()

    def __enter__(self) -> PartedProduct:
        self._check_free()
        self.staging.mkdir(parents=True)
        return self

    def add(self, result: Any) -> None:
        """Note a finished part (anything with its ``id`` and ``files``), checking its files."""
        missing = [name for name in result.files if not (self.staging / name).is_file()]
        if missing:
            raise RuntimeError(f"part {result.id} reported files that are not there: {missing}")
        self._done.add(result.id)

    def publish(self, item: dict[str, Any]) -> Path:
        """Write each layer's mosaic and ``item.json``, and move the folder into place."""
        missing = [part.id for part in self.parts if part.id not in self._done]
        if missing:
            raise RuntimeError(f"parts {missing} are not written")
        # A worker lost during a part leaves its hidden staging folder, or a COG it was
        # copying under a hidden name; the part's retry wrote anew.
        for leftover in self.staging.glob(".*.partial"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        for spec in self.layers:
            for name, text in mosaic_vrts(self.grid, spec.key, spec.dtype, spec.nodata,
                                          self.parts, self.factors).items():
                (self.staging / name).write_text(text, encoding="utf-8")
        return self._finish(item)
