"""Make the test data of tests/data from the full data set it was cut from.

    python -m tests.data.make_test_data SOURCE [--out tests/data]

SOURCE is the folder holding ``stac-items/``, ``stac-schemas/`` and
``s2-l2a-earthsearch-33TWL-2023-08/`` (the full 120 m tile: five items, ``items.ndjson`` and
their COGs). Run from the repository root.

- ``stac-items/`` is copied as it is, without its XML side files (no test reads them: the
  item loader of the tests skips them).
- ``stac-schemas/`` is copied as it is.
- Every raster of the 33TWL items (B02, B03, B04, B08, SCL) is cropped to `TWL_WINDOW` of
  the full 915 x 915 grid and written as a tiled (64 x 64), DEFLATE-compressed GeoTIFF in
  COG layout with the source's CRS, dtype and nodata and the window's transform (no
  overviews: no test reads them).
- Their item JSON and ``items.ndjson`` are copied with each asset's ``proj:shape`` and
  ``proj:transform`` set to the crop; hrefs stay relative (``./B02.tif``,
  ``./<id>/B02.tif``), everything else as it was.

``NOTICE.md`` is written by hand: update it when the window or the sources change. The
output is deterministic for one GDAL version.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile
from rasterio.windows import Window

from tests.data import (
    DATA,
    STAC_ITEMS,
    STAC_SCHEMAS,
    TWL,
    TWL_EPSG,
    TWL_FULL_SHAPE,
    TWL_FULL_TRANSFORM,
    TWL_WINDOW,
)

FULL_TILE = "s2-l2a-earthsearch-33TWL-2023-08"
#: Internal tile of the cropped GeoTIFFs (2 x 2 tiles in a 128 px crop).
BLOCK = 64


def window() -> Window:
    """`TWL_WINDOW` as a rasterio window."""
    col_off, row_off, width, height = TWL_WINDOW
    return Window(col_off, row_off, width, height)


def crop_transform() -> list[float]:
    """The six affine coefficients of the crop, from the full grid's."""
    res_x, _, x0, _, res_y, y0 = TWL_FULL_TRANSFORM
    col_off, row_off, _, _ = TWL_WINDOW
    return [res_x, 0.0, x0 + col_off * res_x, 0.0, res_y, y0 + row_off * res_y]


def crop_raster(source: Path, target: Path) -> None:
    """Write the window of a full-tile raster as a small tiled GeoTIFF."""
    with rasterio.open(source) as src:
        assert src.crs.to_epsg() == TWL_EPSG, source
        assert tuple(src.transform)[:6] == TWL_FULL_TRANSFORM, source
        assert src.shape == TWL_FULL_SHAPE and src.count == 1, source
        data = src.read(1, window=window())
        transform = src.window_transform(window())
        profile: dict[str, Any] = {
            "driver": "GTiff", "dtype": src.dtypes[0], "count": 1, "crs": src.crs,
            "nodata": src.nodata, "width": data.shape[1], "height": data.shape[0],
            "transform": transform,
        }  # fmt: skip
    assert list(transform)[:6] == crop_transform()
    # Through GDAL's COG driver, so that the items' "profile=cloud-optimized" stays true.
    with MemoryFile() as memory:
        with memory.open(**profile) as staged:
            staged.write(data, 1)
        with memory.open() as staged:
            rasterio.shutil.copy(staged, target, driver="COG", BLOCKSIZE=BLOCK,
                                 COMPRESS="DEFLATE", LEVEL=9, OVERVIEWS="NONE")
    with rasterio.open(target) as check:  # read back: the same pixels on the crop's grid
        assert np.array_equal(check.read(1), data)


def cropped_item(item: dict[str, Any]) -> dict[str, Any]:
    """An item whose assets' proj:shape and proj:transform describe the crop."""
    result: dict[str, Any] = json.loads(json.dumps(item))
    _, _, width, height = TWL_WINDOW
    for asset in result["assets"].values():
        assert asset["proj:shape"] == list(TWL_FULL_SHAPE), item["id"]
        assert asset["proj:transform"] == list(TWL_FULL_TRANSFORM), item["id"]
        asset["proj:shape"] = [height, width]
        asset["proj:transform"] = crop_transform()
    return result


def copy_folder(source: Path, target: Path, *leave_out: str) -> None:
    """A folder copied anew, without the files matching the ``leave_out`` patterns."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*leave_out))


def crop_tile(source: Path, target: Path) -> None:
    """The five 33TWL items and their rasters, cropped."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / "LICENSE", target / "LICENSE")
    lines = (source / "items.ndjson").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    for item in items:
        folder = source / item["id"]
        (target / item["id"]).mkdir()
        for asset in item["assets"].values():
            name = Path(asset["href"]).name
            crop_raster(folder / name, target / item["id"] / name)
        own = json.loads((folder / f"{item['id']}.json").read_text(encoding="utf-8"))
        (target / item["id"] / f"{item['id']}.json").write_text(
            json.dumps(cropped_item(own), indent=1) + "\n", encoding="utf-8")
    (target / "items.ndjson").write_text(
        "".join(json.dumps(cropped_item(item)) + "\n" for item in items), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    """Copy and crop from SOURCE into the test data folder."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path,
                        help=f"folder holding stac-items/, stac-schemas/ and {FULL_TILE}/")
    parser.add_argument("--out", type=Path, default=DATA, help="default: %(default)s")
    args = parser.parse_args(argv)
    source: Path = args.source
    out: Path = args.out
    if source.resolve() == out.resolve():
        parser.error("SOURCE is the output folder: give the folder of the full data set")
    copy_folder(source / "stac-items", out / STAC_ITEMS.name, "*.xml")
    copy_folder(source / "stac-schemas", out / STAC_SCHEMAS.name)
    crop_tile(source / FULL_TILE, out / TWL.name)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
