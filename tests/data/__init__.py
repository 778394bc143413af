"""The test data in tests/data: real STAC items and a cropped real Sentinel-2 tile.

Every test reads its real data from here (sources, crop and licences: ``NOTICE.md``; made by
``python -m tests.data.make_test_data SOURCE``). A clone of the repository holds all of it.

- `STAC_ITEMS`: real item JSON without pixels (Earth Search v1 baselines 00.01 to 05.10, one
  ``sentinel-2-c1-l2a`` item, Planetary Computer items and their collection).
- `STAC_SCHEMAS`: the STAC v1.0.0, extension (eo, projection, raster, classification) and
  GeoJSON JSON Schemas, with ``map.tsv`` from canonical URL to file, to validate offline.
- `TWL`: the five Earth Search v1 acquisitions of tile 33TWL in August 2023 (blue, green,
  red, nir, scl at 120 m), cropped to `TWL_WINDOW` of the full tile. Their item JSON and
  ``items.ndjson`` are as published except the hrefs and the assets' ``proj:shape`` /
  ``proj:transform``, which describe the crop: ``geometry``, ``bbox`` and the properties
  (``eo:cloud_cover`` ...) are those of the whole tile, which the catalogue tests rely on.
"""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent
STAC_ITEMS = DATA / "stac-items"
STAC_SCHEMAS = DATA / "stac-schemas"
TWL = DATA / "s2-l2a-earthsearch-33TWL-2023-08-crop"
TWL_NDJSON = TWL / "items.ndjson"

#: The grid of the full 33TWL rasters: EPSG:32633, 915 x 915 pixels of 120 m.
TWL_EPSG = 32633
TWL_FULL_TRANSFORM = (120.0, 0.0, 499980.0, 0.0, -120.0, 5100000.0)
TWL_FULL_SHAPE = (915, 915)
#: The crop kept here, in pixels of the full rasters: (col_off, row_off, width, height).
#: It holds the cloud field of 08-10 and 08-18 (about 65 % and 41 % of it is SCL cloud).
TWL_WINDOW = (664, 112, 128, 128)

#: The environment variable naming the folder of the full tile (``items.ndjson`` and the
#: rasters), for the benchmarks that need all of it; normal tests never read it.
FULL_TILE_ENV = "L3A_REAL_TILE"
