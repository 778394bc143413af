"""rio-tiler's STACReader on a product, with the product's grid worked out once.

STACReader derives the dataset's bounds, CRS and zoom range from the item each time it is
built, that is on every request: pystac extension look-ups per asset, a CRS parse and a
reprojection of the bounds for the zooms. Measured here, about 1.7 ms of a 13 ms tile. A
published product never changes (a new version has a new ``item.json`` and so a new
`Product`), so `ProductReader` computes them the first time and keeps them on the product,
one entry per TileMatrixSet.
"""

from __future__ import annotations

from typing import Any

import attr
from rio_tiler.io import STACReader
from rio_tiler.io.stac import DEFAULT_VALID_TYPE

from api.tiles.products import Product
from engine.parts import VRT_TYPE

#: What STACReader's ``__attrs_post_init__`` computes from the item.
_GRID_ATTRIBUTES = ("assets", "height", "width", "bounds", "transform", "crs", "minzoom",
                    "maxzoom")


@attr.s
class ProductReader(STACReader):
    """STACReader reading a product's item (``item``), its grid memoised on ``product``."""

    product: Product | None = attr.ib(default=None, kw_only=True)
    #: COGs, and the VRT mosaic of each layer of a product built in parts (`engine.parts`).
    include_asset_types: set[str] = attr.ib(default=DEFAULT_VALID_TYPE | {VRT_TYPE})

    def __attrs_post_init__(self) -> None:
        """Set the grid from the product's memo, or compute it and remember it."""
        if self.product is None:
            super().__attrs_post_init__()  # type: ignore[no-untyped-call]
            return
        key = f"grid:{self.tms.id}"
        grid: dict[str, Any] | None = self.product.memo.get(key)
        if grid is None:
            super().__attrs_post_init__()  # type: ignore[no-untyped-call]
            self.product.memo[key] = {name: getattr(self, name, None)
                                      for name in _GRID_ATTRIBUTES}
            return
        for name, value in grid.items():
            if value is not None:
                setattr(self, name, value)

    def info(self, assets: Any = None, **kwargs: Any) -> Any:
        """Return the info of ``assets``, of every asset when None (without a warning).

        titiler's TileJSON endpoint asks for the info of a multi-asset dataset without naming
        assets; rio-tiler then warns on every call that it reads them all, which it does.
        """
        return super().info(assets=assets or list(self.assets), **kwargs)
