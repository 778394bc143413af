"""Building a demo folder: the data flow, one step a line; and reading its truth back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio

from catalog.demo.atmosphere import (
    SWATH_EDGE,
    THICK_ALPHA,
    THIN_BLUE,
    TRUTH_CLEAR,
    TRUTH_CLOUD,
    TRUTH_NODATA,
    TRUTH_SHADOW,
    TRUTH_THIN,
    Observation,
    observe,
)
from catalog.demo.landscape import Cover, build_landscape, surface
from catalog.demo.scenes import (
    BANDS,
    CENTRAL_DATE,
    DEMO_PERIOD,
    REGIMES,
    Acquisition,
    DemoGrid,
    demo_grid,
    schedule,
)
from catalog.demo.writer import (
    MAJA_COLLECTION,
    OFFSET,
    SCALE,
    SCL_COLLECTION,
    collection,
    dumps,
    footprint,
    maja_item,
    maja_item_id,
    scl_item,
    scl_item_id,
    to_l2a_dn,
    to_maja_dn,
    write_cog,
)

FLAVOURS = ("scl", "maja")
RESOLUTIONS = (10, 20, 60)
#: Version of the generator, recorded in truth/truth.json; bump when the scenes change.
GENERATOR_VERSION = 1


def write_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    flavour: str = "scl",
    cloud_regime: str = "mixed",
    size_px: int = 1000,
    resolution: int = 20,
) -> Path:
    """Write the demo scenes, their STAC items and their truth into ``out_dir``.

    Args:
        out_dir: destination folder (created; files of a previous build with the same
            arguments are overwritten, other files are left alone).
        seed: seed of the landscape and the weather.
        flavour: "scl" (Earth Search c1 layout, Sen2Cor SCL) or "maja" (Theia layout,
            CLM/MG2/ATB masks): the same scenes either way.
        cloud_regime: "clear" (< 10 % mean cover), "half" (~50 %), "overcast" (~80 %) or
            "mixed" (dates from clear to overcast).
        size_px: width and height of the grid in pixels.
        resolution: pixel size in metres (10, 20 or 60).

    Returns:
        The path of ``items.ndjson``.

    Raises:
        ValueError: for an unknown flavour, regime or resolution, or a grid under 32 px.

    """
    _check(flavour, cloud_regime, size_px, resolution)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    grid = demo_grid(size_px, resolution)
    land = build_landscape(np.random.default_rng([seed, 1]), grid.shape, float(resolution))
    written: list[tuple[Acquisition, Observation]] = []
    # Compressing COGs costs as much as simulating the scenes: files are written by a pool
    # while the next date is simulated (numpy and GDAL release the GIL). At most one date
    # is in flight, which bounds memory to about two dates of arrays.
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: list[Future[None]] = []
        for acq in schedule(seed, cloud_regime):
            ground = surface(land, acq.days_from_central)
            weather = np.random.default_rng([seed, 100 + acq.index])
            obs = observe(weather, land, ground, acq, float(resolution))
            _wait(pending)
            pending = _submit_acquisition(pool, out, grid, acq, obs, flavour)
            written.append((acq, _masks_only(obs)))
        _wait(pending)
        _wait(_submit_truth(pool, out, grid, land.cover, surface(land, 0.0)))
    items = [_item(out, grid, acq, obs, flavour) for acq, obs in written]
    truth_items = {
        item["id"]: _truth_stats(acq, obs) for item, (acq, obs) in zip(items, written, strict=True)
    }
    _write_json(
        out / "truth" / "truth.json",
        _truth_document(seed, flavour, cloud_regime, grid, truth_items),
    )
    collection_id = MAJA_COLLECTION if flavour == "maja" else SCL_COLLECTION
    _write_json(out / "collection.json", collection(collection_id, items, grid, flavour == "maja"))
    items_path = out / "items.ndjson"
    items_path.write_text("".join(dumps(item) + "\n" for item in items), encoding="utf-8")
    return items_path


def ensure_demo(data_dir: Path) -> Path:
    """Return the default demo (seed 0) in ``data_dir / "demo"``, generating it on first use.

    Safe when two processes call it at once: each builds in its own temporary folder beside
    the target and renames it into place (atomic on one filesystem); the loser of the race
    discards its copy and uses the winner's. A folder that exists is reused as it is.

    Returns:
        The path of its ``items.ndjson``.

    """
    data_dir = Path(data_dir)
    target = data_dir / "demo"
    items = target / "items.ndjson"
    if items.exists():
        return items
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=data_dir))
    try:
        write_demo(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process renamed its build first (the target is a non-empty folder).
            if not items.exists():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return items


def read_truth(out_dir: str | Path, bands: Sequence[str] = BANDS) -> npt.NDArray[np.float32]:
    """Read the true surface reflectance on the central date (2024-07-15), float32 (B, Y, X).

    Args:
        out_dir: a folder written by `write_demo`.
        bands: common names, any of `BANDS`.

    """
    root = Path(out_dir) / "truth"
    layers = []
    for band in bands:
        with rasterio.open(root / f"{band}.tif") as src:
            dn = src.read(1)
        layers.append(dn.astype(np.float32) * np.float32(SCALE) + np.float32(OFFSET))
    return np.stack(layers)


def read_truth_clouds(out_dir: str | Path, item_id: str) -> npt.NDArray[np.uint8]:
    """Read the true cloud mask of one item, uint8 (Y, X).

    Codes: 0 clear, 1 thin cloud or haze, 2 cloud, 3 cloud shadow, 255 outside the swath.
    """
    with rasterio.open(Path(out_dir) / "truth" / f"cloud_{item_id}.tif") as src:
        return np.asarray(src.read(1), dtype=np.uint8)


def read_landcover(out_dir: str | Path) -> npt.NDArray[np.uint8]:
    """Read the land-cover map, uint8 (Y, X) of `Cover` codes."""
    with rasterio.open(Path(out_dir) / "truth" / "landcover.tif") as src:
        return np.asarray(src.read(1), dtype=np.uint8)


def _check(flavour: str, regime: str, size_px: int, resolution: int) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, not {flavour!r}")
    if regime not in REGIMES:
        raise ValueError(f"cloud_regime must be one of {REGIMES}, not {regime!r}")
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, not {resolution!r}")
    if size_px < 32:
        raise ValueError(f"size_px must be at least 32, not {size_px}")


def _swath_edge(acq: Acquisition, grid: DemoGrid) -> tuple[float, float] | None:
    # Columns of the swath edge at the top and bottom rows (see atmosphere._swath).
    if not acq.swath_edge:
        return None
    top, bottom = SWATH_EDGE
    return (grid.size_px * top, grid.size_px * bottom)


def _wait(futures: Sequence[Future[None]]) -> None:
    for future in futures:
        future.result()  # re-raises a writer's exception here


def _masks_only(obs: Observation) -> Observation:
    """Drop the reflectance of an observation, keeping the masks the items are built from."""
    empty = np.empty((0, *obs.valid.shape), dtype=np.float32)
    return replace(obs, reflectance=empty, aot=empty[0:0], water_vapour=empty[0:0])


def _item_id(acq: Acquisition, flavour: str) -> str:
    return maja_item_id(acq) if flavour == "maja" else scl_item_id(acq)


def _submit_acquisition(
    pool: ThreadPoolExecutor,
    out: Path,
    grid: DemoGrid,
    acq: Acquisition,
    obs: Observation,
    flavour: str,
) -> list[Future[None]]:
    """Queue the COGs of one acquisition (in its own folder) and its truth cloud mask."""
    item_id = _item_id(acq, flavour)
    folder = out / item_id
    jobs: list[tuple[str, npt.NDArray[Any], float | None, str]] = []
    if flavour == "maja":
        dn = to_maja_dn(obs.reflectance, obs.valid)
        jobs += [(f"{name}.tif", dn[b], -10000, "average") for b, name in enumerate(BANDS)]
        jobs.append(("clm.tif", obs.clm, None, "nearest"))
        jobs.append(("mg2.tif", obs.mg2, None, "nearest"))
        atb = np.stack(
            [
                np.clip(np.rint(obs.water_vapour * 20.0), 1, 255),  # g/cm2 = DN / 20
                np.clip(np.rint(obs.aot * 200.0), 1, 255),  # AOT = DN / 200
            ]
        ).astype(np.uint8)
        atb[:, ~obs.valid] = 0
        jobs.append(("atb.tif", atb, 0, "average"))
    else:
        dn16 = to_l2a_dn(obs.reflectance, obs.valid)
        jobs += [(f"{name}.tif", dn16[b], 0, "average") for b, name in enumerate(BANDS)]
        jobs.append(("scl.tif", obs.scl, 0, "nearest"))
        aot = np.clip(np.rint(obs.aot * 1000.0), 1, 65535).astype(np.uint16)  # AOT = DN / 1000
        aot[~obs.valid] = 0
        jobs.append(("aot.tif", aot, 0, "average"))
    futures = [
        pool.submit(write_cog, folder / name, data, grid, nodata=nodata, resampling=resampling)
        for name, data, nodata, resampling in jobs
    ]
    futures.append(
        pool.submit(
            write_cog,
            out / "truth" / f"cloud_{item_id}.tif",
            obs.truth,
            grid,
            nodata=TRUTH_NODATA,
            resampling="nearest",
        )
    )
    return futures


def _item(
    out: Path, grid: DemoGrid, acq: Acquisition, obs: Observation, flavour: str
) -> dict[str, Any]:
    """Build the STAC item of a written acquisition (its checksums need the files)."""
    folder = out / _item_id(acq, flavour)
    ring = footprint(grid, _swath_edge(acq, grid))
    if flavour == "maja":
        return maja_item(acq, grid, folder, ring, obs.clm, obs.valid)
    return scl_item(acq, grid, folder, ring, obs.scl)


def _submit_truth(
    pool: ThreadPoolExecutor,
    out: Path,
    grid: DemoGrid,
    cover: npt.NDArray[np.uint8],
    truth: npt.NDArray[np.float32],
) -> list[Future[None]]:
    # Stored like the L2A bands (DN = rho * 10000 + 1000, uint16): 1e-4 precision, well
    # below the sensor noise, at half the size of float32.
    dn = to_l2a_dn(truth, np.ones(grid.shape, dtype=bool))
    futures = [
        pool.submit(write_cog, out / "truth" / f"{name}.tif", dn[b], grid, nodata=0)
        for b, name in enumerate(BANDS)
    ]
    futures.append(
        pool.submit(
            write_cog, out / "truth" / "landcover.tif", cover, grid, nodata=0, resampling="nearest"
        )
    )
    return futures


def _truth_stats(acq: Acquisition, obs: Observation) -> dict[str, Any]:
    valid = obs.valid
    n = max(int(valid.sum()), 1)

    def share(*codes: int) -> float:
        return round(float(np.isin(obs.truth[valid], codes).sum()) / n, 6)

    return {
        "datetime": acq.when.isoformat().replace("+00:00", "Z"),
        "target_cover": round(acq.cover, 6),
        "cloud": share(TRUTH_CLOUD),
        "thin": share(TRUTH_THIN),
        "shadow": share(TRUTH_SHADOW),
        "clear": share(TRUTH_CLEAR),
        "nodata": round(1.0 - float(valid.mean()), 6),
        "aot_mean": round(acq.aot_mean, 6),
    }


def _truth_document(
    seed: int, flavour: str, regime: str, grid: DemoGrid, items: dict[str, Any]
) -> dict[str, Any]:
    return {
        "generator": "catalog.demo",
        "version": GENERATOR_VERSION,
        "arguments": {
            "seed": seed,
            "flavour": flavour,
            "cloud_regime": regime,
            "size_px": grid.size_px,
            "resolution": grid.resolution,
        },
        "period": DEMO_PERIOD,
        "central_date": CENTRAL_DATE.isoformat(),
        "epsg": grid.epsg,
        "transform": list(grid.transform),
        "shape": list(grid.shape),
        "reflectance": {
            "files": [f"{name}.tif" for name in BANDS],
            "encoding": "uint16 DN, reflectance = DN * scale + offset",
            "scale": SCALE,
            "offset": OFFSET,
        },
        "landcover": {"file": "landcover.tif", "classes": {c.name.lower(): int(c) for c in Cover}},
        "clouds": {
            "files": "cloud_<item-id>.tif",
            "classes": {
                "clear": TRUTH_CLEAR,
                "thin": TRUTH_THIN,
                "cloud": TRUTH_CLOUD,
                "shadow": TRUTH_SHADOW,
                "nodata": TRUTH_NODATA,
            },
            "thin_blue_increase": THIN_BLUE,
            "thick_opacity": THICK_ALPHA,
        },
        "items": items,
    }


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
