"""An offline demo catalogue of Sentinel-2 L2A scenes with a known truth.

Synthetic acquisitions over the Garonne valley north-west of Toulouse (tile 31TCJ, UTM 31N),
July 2024, laid out like Earth Search's ``sentinel-2-c1-l2a`` (or, ``flavour="maja"``, like
Theia's MAJA products), with the truth that real data never gives: the surface reflectance on
the central date and the true cloud masks of every date. It exists to show, with numbers,
what the source text claims: with good cloud masks a weighted synthesis beats a best-pixel
composite, and Sen2Cor's masks are not good (they miss haze and cloud rims, and call bright
clear soils cloud). See `landscape`, `atmosphere` and `writer` for the physics and layout.

Layout of a demo folder (``write_demo(out_dir)``)::

    items.ndjson                  one STAC item a line, hrefs relative to this file
    collection.json               a STAC collection (serves with ``rustac serve``)
    <item-id>/blue.tif ...        10 reflectance bands, blue..swir22 (asset keys)
    <item-id>/scl.tif, aot.tif    SCL flavour: Sen2Cor classes; AOT uint16 (x 0.001)
    <item-id>/clm.tif, mg2.tif,   MAJA flavour: cloud mask bits, geophysical mask bits,
              atb.tif             water vapour (band 1, DN/20) and AOT (band 2, DN/200)
    truth/<band>.tif              TRUE surface reflectance on 2024-07-15 (noise-free),
                                  uint16 DN with the L2A encoding: rho = DN * 1e-4 - 0.1
    truth/landcover.tif           uint8 `Cover` codes (1 water .. 8 bare soil)
    truth/cloud_<item-id>.tif     uint8 true mask per date: 0 clear, 1 thin cloud / haze /
                                  cloud rim / cirrus (blue raised >= 0.02), 2 cloud
                                  (opacity >= 0.25), 3 cloud shadow, 255 outside the swath
    truth/truth.json              arguments, codes, per-date true cloud shares

Every raster is a DEFLATE COG (256 px blocks, overviews) on the same grid (default 1000 x
1000 px at 20 m, origin on the 60 m lattice of 31TCJ). Reflectance DN: SCL flavour
``round(rho * 10000) + 1000`` (uint16, 0 nodata, ``raster:bands`` scale 0.0001, offset -0.1);
MAJA flavour ``round(rho * 10000)`` (int16, -10000 nodata, scale 0.0001, offset 0).
Builds are deterministic: the same arguments give byte-identical files.
"""

from catalog.demo.atmosphere import (
    TRUTH_CLEAR,
    TRUTH_CLOUD,
    TRUTH_NODATA,
    TRUTH_SHADOW,
    TRUTH_THIN,
)
from catalog.demo.build import (
    ensure_demo,
    read_landcover,
    read_truth,
    read_truth_clouds,
    write_demo,
)
from catalog.demo.landscape import STATIC_COVERS, Cover
from catalog.demo.scenes import (
    BANDS,
    CENTRAL_DATE,
    DEMO_BBOX,
    DEMO_EPSG,
    DEMO_PERIOD,
    demo_grid,
)
from catalog.demo.writer import MAJA_COLLECTION, SCL_COLLECTION

__all__ = [
    "BANDS",
    "CENTRAL_DATE",
    "DEMO_BBOX",
    "DEMO_EPSG",
    "DEMO_PERIOD",
    "MAJA_COLLECTION",
    "SCL_COLLECTION",
    "STATIC_COVERS",
    "TRUTH_CLEAR",
    "TRUTH_CLOUD",
    "TRUTH_NODATA",
    "TRUTH_SHADOW",
    "TRUTH_THIN",
    "Cover",
    "demo_grid",
    "ensure_demo",
    "read_landcover",
    "read_truth",
    "read_truth_clouds",
    "write_demo",
]
