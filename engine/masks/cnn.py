"""Cloud and cloud-shadow masks from a CNN run on each observation's own reflectance.

The network is DLR's ukis-csmask (a U-Net trained on CloudSEN12+ and SPARCS, for L2A with
the bands blue, green, red, nir, and a better model with swir16 and swir22 too). Its ONNX
weights ship inside the package and run with onnxruntime on the CPU: nothing is downloaded.

Where it runs: on a coarse grid aligned with the order's output grid (``factor`` output pixels
a side, about 30 m, the resolution it was trained for), over the order's extent plus a margin
of context, one item at a time. Its result is written as a small GeoTIFF in a cache folder,
keyed by the item, the window and the model, and then read like any other mask asset, repeated
onto the output grid: the monthly, quarterly and annual orders of one area compute each
scene's mask once. On a dask.distributed cluster each item's mask is a task like any other
(the cache folder must then be shared, as the products' folder is).

Cost, measured here on the real 33TWL tile (4-band model, 2 threads): about 5.5 s per
megapixel of the coarse grid, so about 1.4 s per date for a 20 x 20 km order at 10 m.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from catalog.model import Grid, NormalizedItem
from engine.errors import InvalidParameter
from engine.methods.base import F32, ObsClass

U8 = npt.NDArray[np.uint8]

#: Resolution the network was trained for, in metres.
RESOLUTION = 30.0
#: Coarse pixels of context around the order: the network sees a cloud's surroundings (its
#: shadow, its rim) even at the order's edge. 16 px is 480 m at 30 m.
MARGIN = 16
#: The bands of the two L2A models, in the network's own band names.
BANDS_4 = ("blue", "green", "red", "nir")
BANDS_6 = (*BANDS_4, "swir16", "swir22")
#: Coarse pixels by which the network's clouds and shadows are grown: its edges fall inside
#: the soft rims of clouds, which still raise the blue (ukis-csmask's own valid mask grows
#: them by 4 px at 30 m for the same reason). Measured on the demo: see docs/quality.md.
BUFFER = 1
#: Codes of the cached masks (the network's own classes, and a nodata code).
CLEAR, CLOUD, SHADOW, NODATA = 0, 1, 2, 255
#: Name of the mask asset the loader reads (`engine.load.asset_of`).
ASSET = "cnn"


@dataclass(frozen=True)
class CnnWindow:
    """Where the network runs for an order: a grid aligned with the output grid."""

    grid: Grid
    factor: int  # output pixels per coarse pixel, a side
    margin: int  # coarse pixels beyond the output grid on every side


def window_for(grid: Grid) -> CnnWindow:
    """The coarse grid of an output grid: ``factor`` = the integer nearest 30 m / resolution."""
    factor = max(1, round(RESOLUTION / grid.resolution))
    res = grid.resolution * factor
    c, f = grid.transform[2], grid.transform[5]
    height, width = grid.shape
    rows, cols = math.ceil(height / factor) + 2 * MARGIN, math.ceil(width / factor) + 2 * MARGIN
    transform = (res, 0.0, c - MARGIN * res, 0.0, -res, f + MARGIN * res)
    return CnnWindow(Grid(grid.epsg, (rows, cols), transform), factor, MARGIN)


def model_bands(item: NormalizedItem) -> tuple[str, ...]:
    """The bands the network reads for this item: six when it has both SWIR bands, else four.

    Raises:
        InvalidParameter: the item lacks one of blue, green, red, nir.

    """
    missing = [b for b in BANDS_4 if b not in item.bands]
    if missing:
        raise InvalidParameter(
            "cloud_mask", f"cnn needs {', '.join(BANDS_4)}; {item.id} has no {', '.join(missing)}")
    return BANDS_6 if all(b in item.bands for b in BANDS_6) else BANDS_4


@cache
def _model_identity() -> str:
    """What names the network's weights: the package's version (it ships them)."""
    from importlib.metadata import version

    return f"ukis-csmask {version('ukis-csmask')}"


def cache_key(item: NormalizedItem, window: CnnWindow, bands: Sequence[str]) -> str:
    """A digest of everything the mask depends on.

    The item (its id, the hrefs of the bands read and their scale and offset, its ``updated``
    time when the catalogue gives one: a reprocessed scene gets a new mask), the window, and
    the model. Anything else changing does not change the mask.
    """
    material = {
        "item": item.id,
        "updated": item.properties.get("updated"),
        "bands": [[b, item.bands[b].href, item.bands[b].scale, item.bands[b].offset]
                  for b in bands],
        "grid": [window.grid.epsg, list(window.grid.shape), list(window.grid.transform)],
        "model": _model_identity(),
        "buffer": BUFFER,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cache_path(folder: Path, item: NormalizedItem, window: CnnWindow,
               bands: Sequence[str]) -> Path:
    """The cached mask file of an item in a window: ``folder/<item id>/<key>.tif``."""
    safe_id = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in item.id)
    return folder / safe_id / f"{cache_key(item, window, bands)}.tif"


@cache
def _network(n_bands: int) -> tuple[Any, dict[str, Any]]:
    """The L2A model for 4 or 6 bands, loaded once per process, and its metadata.

    ukis-csmask's `CSmask` loads its model anew for every image: 0.7 s, against 0.1 s to
    run it on a small window. The session is shared by threads (onnxruntime's ``run`` is
    thread-safe), one thread inside each call: dask runs one item per core.
    """
    import onnxruntime  # loads its libraries on import: 0.3 s
    import ukis_csmask

    folder = Path(ukis_csmask.__file__).parent
    name = f"model_{n_bands}b_l2a"
    meta: dict[str, Any] = json.loads((folder / f"{name}.json").read_text())
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(folder / f"{name}.onnx"), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    return session, meta


def classify(reflectance: F32, bands: Sequence[str]) -> U8:
    """The network's classes (`CLEAR`, `CLOUD`, `SHADOW`; `NODATA` where a band has none).

    The inference of ukis-csmask's `CSmask` (normalised bands, 256 px tiles overlapping by
    20 %, softmax, tiles blended smoothly, most likely class), with its model loaded once
    (`_network`); `tests/engine/test_cnn_mask.py` checks that both give the same classes.

    Args:
        reflectance: surface reflectance (B, Y, X), NaN where there is no data.
        bands: the band names of axis B (`BANDS_4` or `BANDS_6`, any order).

    """
    from scipy import ndimage
    from scipy.special import softmax
    from ukis_csmask.utils import tile_array, untile_array

    session, meta = _network(len(bands))
    statistics = meta["data"]["dataset_statistics"]
    order = [list(bands).index(b) for b in statistics["band_names"]]
    nodata = np.isnan(reflectance).any(axis=0)
    image = np.moveaxis(np.where(np.isnan(reflectance), 0.0, reflectance)[order], 0, -1)
    # In place, as CSmask does: float32 pixels, float64 statistics, float32 results.
    image = image.astype(np.float32)
    image -= np.asarray(statistics["img"][0])
    image /= np.asarray(statistics["img"][1])
    width, height = meta["data"]["target_size"]
    tiles = np.moveaxis(tile_array(image, xsize=width, ysize=height, overlap=0.2), -1, 1)
    name = session.get_inputs()[0].name
    logits = [session.run(None, {name: tiles[i:i + 1]})[0] for i in range(len(tiles))]
    probabilities = np.moveaxis(softmax(np.concatenate(logits), axis=1), 1, -1)
    blended = untile_array(probabilities, (*image.shape[:2], probabilities.shape[-1]),
                           overlap=0.2, smooth_blending=True)
    classes: U8 = np.argmax(blended, axis=2).astype(np.uint8)
    if BUFFER:
        ring = ndimage.binary_dilation(classes != CLEAR, iterations=BUFFER) & (classes == CLEAR)
        classes[ring] = CLOUD
    classes[nodata] = NODATA
    return classes


def write_mask(path: Path, classes: U8, grid: Grid) -> None:
    """Write a mask as a small tiled GeoTIFF, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    profile = {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "nodata": NODATA,
        "height": grid.shape[0], "width": grid.shape[1], "crs": f"EPSG:{grid.epsg}",
        "transform": rasterio.Affine(*grid.transform), "compress": "deflate",
        "tiled": True, "blockxsize": 256, "blockysize": 256,
    }
    try:
        with rasterio.open(partial, "w", **profile) as dst:
            dst.write(classes, 1)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def is_readable(path: Path) -> bool:
    """Whether a cached mask exists and opens (a damaged file is computed again)."""
    if not path.exists():
        return False
    try:
        with rasterio.open(path) as src:
            return bool(src.count == 1)
    except rasterio.errors.RasterioError:
        return False


def mask_item(item: NormalizedItem, window: CnnWindow, path: Path,
              gdal_options: Mapping[str, Any] | None = None, session: str | None = None,
              ) -> Path:
    """Compute one item's mask on the window and cache it at ``path``; return ``path``.

    Reads the model's bands averaged onto the coarse grid (through the engine's loader), runs
    the network, writes the file. A cached file is left as it is. The reads are a child of
    the build's read ``session`` (`engine.readers`): a failed build stops them.
    """
    if is_readable(path):
        return path
    # The loader imports this module's ASSET name.
    from engine.load import load_assets, new_load_key
    from engine.readers import child_session, end_session

    bands = model_bands(item)
    session = child_session(session or new_load_key(), f"cnn-{item.id}")
    dn = load_assets([item], window.grid, list(bands), resampling="average",
                     chunk=max(window.grid.shape), gdal_options=gdal_options, load=session)
    try:
        values = np.asarray(dn.compute(scheduler="sync"))[0]  # type: ignore[no-untyped-call]
    finally:
        end_session(session)  # its tiles are not kept: the main pass is far behind
    scale = np.array([item.bands[b].scale for b in bands], dtype=np.float32)[:, None, None]
    offset = np.array([item.bands[b].offset for b in bands], dtype=np.float32)[:, None, None]
    reflectance = (values * scale + offset).astype(np.float32)
    reflectance[values == 0] = np.nan
    write_mask(path, classify(reflectance, bands), window.grid)
    return path


def add_cnn_clouds(classes: U8, cnn: npt.NDArray[np.integer]) -> U8:
    """Classes with the network's clouds and shadows added over land and water.

    Snow stays snow: the network, trained mostly on snow-free scenes, calls much snow cloud,
    and the items' own mask is the better judge there. Nodata stays nodata.
    """
    flagged = (cnn == CLOUD) | (cnn == SHADOW)
    over = (classes == ObsClass.LAND) | (classes == ObsClass.WATER)
    return np.where(flagged & over, np.uint8(ObsClass.CLOUD), classes).astype(np.uint8)
