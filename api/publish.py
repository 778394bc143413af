"""Product folders of the service: staging, the AOI polygon, publication, removal.

`engine.pipeline.build_product` already writes atomically. The service builds into a
private staging folder (``products/.build-<job id>/product``) rather than straight into
``products/<id>``, because it still has work to do before a client may see the product: record
the service's own properties (job id, source) and the ordered polygon in the STAC item, and mask
the pixels outside an ordered polygon. Only then is the folder renamed into place, in one
``os.replace``: a failed, cancelled or crashed job never leaves a visible product, and
leftover staging folders are removed at the next start.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.shutil
from pyproj import Transformer
from rasterio.features import geometry_mask

from api.orders import NormalizedOrder
from engine.write import copy_as_cog

STAGING_PREFIX = ".build-"


def staging_dir(products_dir: Path, job_id: str) -> Path:
    """Return the private folder a job builds in (its product is ``<it>/product``)."""
    return products_dir / f"{STAGING_PREFIX}{job_id}"


def product_dir(products_dir: Path, product_id: str) -> Path:
    """Return the folder of a published product, refusing any id that is not a plain name."""
    if not product_id or product_id.startswith(".") or Path(product_id).name != product_id:
        raise ValueError(f"not a product id: {product_id!r}")
    return products_dir / product_id


def publish(
    built: Path, products_dir: Path, product_id: str, order: NormalizedOrder, extra: dict[str, Any]
) -> Path:
    """Finish a built product folder and move it to ``products/<product_id>``.

    Args:
        built: the folder `build_product` made, inside the job's staging folder.
        products_dir: where products are published.
        product_id: the product's id (the job id).
        order: the order, for the polygon to mask outside of.
        extra: properties to add to the STAC item.

    Returns:
        The published folder.

    """
    item_path = built / "item.json"
    item = json.loads(item_path.read_text(encoding="utf-8"))
    item["properties"].update(extra)
    if order.geometry is not None:
        # The data footprint is now the polygon: STAC's geometry says so (its bbox, the grid's,
        # still contains it).
        item["geometry"] = order.geometry
        _mask_outside(built, item, order.geometry)
    item_path.write_text(
        json.dumps(item, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    target = product_dir(products_dir, product_id)
    os.replace(built, target)
    return target


def remove_product(products_dir: Path, product_id: str) -> None:
    """Delete a product folder, if any (a dismissed job's)."""
    shutil.rmtree(product_dir(products_dir, product_id), ignore_errors=True)


def clean_staging(products_dir: Path) -> None:
    """Remove the staging folders an interrupted build left (ours and the engine's)."""
    if not products_dir.is_dir():
        return
    for path in products_dir.iterdir():
        if path.name.startswith(STAGING_PREFIX) or (
            path.name.startswith(".") and path.name.endswith(".partial")
        ):
            shutil.rmtree(path, ignore_errors=True)


def _mask_outside(folder: Path, item: dict[str, Any], polygon: dict[str, Any]) -> None:
    """Set pixels outside ``polygon`` (lon/lat) to nodata in every layer that has a nodata.

    Layers without a nodata value (none are written so today) are left whole.
    """
    epsg = int(str(item["properties"]["proj:code"]).split(":")[1])
    to_grid = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    rings = []
    for ring in polygon["coordinates"]:
        xs, ys = to_grid.transform([p[0] for p in ring], [p[1] for p in ring])
        rings.append(list(zip(xs, ys, strict=True)))
    shape = {"type": "Polygon", "coordinates": rings}
    for key, asset in item["assets"].items():
        path = folder / f"{key}.tif"
        with rasterio.open(path) as src:
            if src.nodata is None:
                continue
            profile = src.profile
            values = src.read(1)
            outside = geometry_mask(
                [shape], out_shape=values.shape, transform=src.transform, all_touched=False
            )
        values[outside] = np.array(src.nodata).astype(values.dtype)
        continuous = "reflectance" in asset.get("roles", []) or str(profile["dtype"]).startswith(
            "float"
        )
        raw = folder / f".{key}.raw.tif"
        profile.update(
            driver="GTiff", tiled=True, blockxsize=256, blockysize=256, compress="DEFLATE"
        )
        with rasterio.open(raw, "w", **profile) as dst:
            dst.write(values, 1)
        copy_as_cog(raw, path, "AVERAGE" if continuous else "NEAREST", str(profile["dtype"]))
        raw.unlink()
