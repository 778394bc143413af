"""Product folders of the service: staging, publication, removal.

`engine.pipeline.build_product` already writes atomically (and masks the pixels outside an
ordered polygon, block by block). The service builds into a private staging folder
(``products/.build-<job id>/product``) rather than straight into ``products/<id>``, because it
still records its own properties (job id, source) in the STAC item before a client may see the
product. Only then is the folder renamed into place, in one
``os.replace``: a failed, cancelled or crashed job never leaves a visible product, and
leftover staging folders are removed at the next start.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

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
    built: Path, products_dir: Path, product_id: str, extra: dict[str, Any]
) -> Path:
    """Finish a built product folder and move it to ``products/<product_id>``.

    Args:
        built: the folder `build_product` made, inside the job's staging folder.
        products_dir: where products are published.
        product_id: the product's id (the job id).
        extra: properties to add to the STAC item.

    Returns:
        The published folder.

    """
    item_path = built / "item.json"
    item = json.loads(item_path.read_text(encoding="utf-8"))
    item["properties"].update(extra)
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
