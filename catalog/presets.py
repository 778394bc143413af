"""Named STAC API sources: what ``source="earth-search"`` means.

Presets (name -> API, default collection):

- ``earth-search``: Element 84 Earth Search v1, https://earth-search.aws.element84.com/v1,
  collection ``sentinel-2-c1-l2a`` (Sentinel-2 Collection 1: the whole archive reprocessed to
  baseline >= 05.00, COGs with the +1000 DN offset always present). The recommended default.
- ``earth-search-v1-l2a``: the same API, collection ``sentinel-2-l2a`` (the older COG archive,
  mixed baselines; some items already had the offset subtracted, see
  `catalog.normalize.reflectance_scale_offset`).
- ``planetary-computer``: Microsoft Planetary Computer,
  https://planetarycomputer.microsoft.com/api/stac/v1, collection ``sentinel-2-l2a``. Its
  blob-storage hrefs need a short-lived SAS token: items are signed with
  ``planetary_computer.sign`` (imported only for this preset; it calls the network, and the
  tokens expire after about an hour, so sign shortly before reading).
- ``cdse``: Copernicus Data Space Ecosystem, https://stac.dataspace.copernicus.eu/v1,
  collection ``sentinel-2-l2a`` (JPEG2000 in the ``s3://eodata`` bucket: reading the pixels
  needs CDSE S3 credentials in GDAL's environment).

An explicit ``collection`` given to `catalog.search.search` overrides the preset's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

ItemSigner = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Preset:
    """A named STAC API: its URL, default collection and how to make its hrefs readable."""

    name: str
    url: str
    collection: str
    description: str
    signer: ItemSigner | None = None


def sign_planetary_computer(item: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a Planetary Computer item dict with SAS-signed asset hrefs.

    Imported lazily: ``planetary_computer`` is only needed, and only contacted, for that
    preset.
    """
    import planetary_computer

    signed: dict[str, Any] = planetary_computer.sign(item)
    return signed


EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        preset.name: preset
        for preset in (
            Preset(
                "earth-search",
                EARTH_SEARCH_URL,
                "sentinel-2-c1-l2a",
                "Earth Search v1, Sentinel-2 Collection 1 L2A (COG, AWS us-west-2)",
            ),
            Preset(
                "earth-search-v1-l2a",
                EARTH_SEARCH_URL,
                "sentinel-2-l2a",
                "Earth Search v1, Sentinel-2 L2A COG archive (mixed baselines)",
            ),
            Preset(
                "planetary-computer",
                "https://planetarycomputer.microsoft.com/api/stac/v1",
                "sentinel-2-l2a",
                "Microsoft Planetary Computer, Sentinel-2 L2A (COG, Azure; signed hrefs)",
                signer=sign_planetary_computer,
            ),
            Preset(
                "cdse",
                "https://stac.dataspace.copernicus.eu/v1",
                "sentinel-2-l2a",
                "Copernicus Data Space Ecosystem, Sentinel-2 L2A (JPEG2000, s3://eodata)",
            ),
        )
    }
)
