"""An order larger than a part, as independent parts of its output grid, and their mosaic.

A country-sized order used to send every computed block to the one client process, which
wrote every block and then converted every layer to a COG alone (`docs/scaling.md`). Split
into parts, each part is computed *and written* (its own COGs) by the worker that computes
it, straight into the product's staging folder; the client gathers a few hundred bytes a
part and, once every part is there, writes one VRT per layer that presents the parts as one
raster, and the STAC item. The product stays one thing: one item, one asset per layer that
opens over the whole extent (GDAL, rasterio, QGIS, TiTiler), and the part COGs beside it.

Parts are squares of ``size`` pixels from the grid's top-left corner (the last row and
column smaller). ``size`` is a multiple of the writer's cell, so a part's cells, and so its
overviews' pixels, are the whole product's: the parts' pixels are those of a one-part build.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.model import Grid

#: Media type of a layer's mosaic. GDAL's VRT has no registered type; this is the
#: conventional form of an unregistered one, and the tiler lists it as readable.
VRT_TYPE = "application/x-vrt"

#: The field of a part's asset naming its part, in a product built in parts.
PART_FIELD = "l3a:part"

_GDAL_TYPES = {"uint8": "Byte", "int16": "Int16", "uint16": "UInt16", "int32": "Int32",
               "uint32": "UInt32", "float32": "Float32", "float64": "Float64"}


@dataclass(frozen=True)
class Part:
    """One part of an order's output grid: its name and window (rows, then columns)."""

    row: int
    col: int
    window: tuple[int, int, int, int]  # (row start, row stop, column start, column stop)

    @property
    def id(self) -> str:
        """The part's name in file names and asset keys (``r0c1``: first row, second column)."""
        return f"r{self.row}c{self.col}"

    @property
    def offset(self) -> tuple[int, int]:
        """(row, column) of the part's top-left pixel in the whole grid."""
        return self.window[0], self.window[2]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the part."""
        r0, r1, c0, c1 = self.window
        return r1 - r0, c1 - c0

    def grid(self, whole: Grid) -> Grid:
        """The part's own grid: the whole grid's CRS and pixels, cut to the part."""
        a, b, c, d, e, f = whole.transform
        r0, c0 = self.offset
        return Grid(whole.epsg, self.shape, (a, b, c + a * c0 + b * r0, d, e, f + d * c0 + e * r0))


def part_side(size: int, cell: int) -> int:
    """The side of the parts: ``size`` rounded up to a whole number of writer cells."""
    if size <= 0:
        raise ValueError(f"part size must be positive, not {size}")
    return math.ceil(size / cell) * cell


def split(shape: tuple[int, int], side: int) -> list[Part]:
    """The parts of a grid of ``shape``: squares of ``side`` pixels, row by row.

    A grid no larger than ``side`` is one part (the whole grid).
    """
    height, width = shape
    return [Part(i, j, (r0, min(r0 + side, height), c0, min(c0 + side, width)))
            for i, r0 in enumerate(range(0, height, side))
            for j, c0 in enumerate(range(0, width, side))]


def part_file(key: str, part_id: str) -> str:
    """The file name of a layer's part COG (beside the mosaic, in the product folder)."""
    return f"{key}.{part_id}.tif"


def mosaic_file(key: str) -> str:
    """The file name of a layer's mosaic of parts."""
    return f"{key}.vrt"


def overview_file(key: str, factor: int) -> str:
    """The file name of one overview level of a layer's mosaic."""
    return f"{key}.ovr{factor}.vrt"


def mosaic_vrts(whole: Grid, key: str, dtype: str, nodata: float | None,
                parts: Sequence[Part], factors: Sequence[int]) -> dict[str, str]:
    """GDAL VRTs presenting the parts of one layer as one raster over the whole grid.

    Returns file name -> text: the mosaic (`mosaic_file`), and one mosaic per overview level
    (`overview_file`) of the parts' own overviews, which the first declares as its
    ``<Overview>`` elements. GDAL's implicit overviews of a VRT (``OverviewList``) would be
    sized ``floor(n / factor)`` where the parts' are ``ceil``, so every overview read would be
    resampled by a fraction of a pixel; these are the parts' pixels exactly. Files are named
    relative to the VRT, so the folder reads the same on a disk and over HTTP (the product's
    files are served side by side).
    """
    files = {mosaic_file(key): _mosaic(whole.shape, whole.transform, whole.epsg, key, dtype,
                                       nodata, parts, 1, None,
                                       [overview_file(key, f) for f in factors])}
    for level, factor in enumerate(factors):
        a, b, c, d, e, f = whole.transform
        shape = (-(-whole.shape[0] // factor), -(-whole.shape[1] // factor))
        transform = (a * factor, b * factor, c, d * factor, e * factor, f)
        files[overview_file(key, factor)] = _mosaic(shape, transform, whole.epsg, key, dtype,
                                                    nodata, parts, factor, level, [])
    return files


def _mosaic(shape: tuple[int, int], transform: Sequence[float], epsg: int, key: str,
            dtype: str, nodata: float | None, parts: Sequence[Part], factor: int,
            level: int | None, overviews: Sequence[str]) -> str:
    """One mosaic VRT: the parts at ``factor`` (their overview ``level``; None: full size)."""
    height, width = shape
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = f"EPSG:{epsg}"
    a, b, c, d, e, f = transform
    ET.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in (c, a, b, f, d, e))
    band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[dtype], band="1")
    if nodata is not None:
        ET.SubElement(band, "NoDataValue").text = repr(float(nodata))
    for part in parts:
        # A part's offset is a multiple of every factor (whole writer cells); its size at a
        # level is rounded up, as the writer's overviews are (`engine.write.halve`).
        rows, cols = (-(-n // factor) for n in part.shape)
        r0, c0 = (n // factor for n in part.offset)
        source = ET.SubElement(band, "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="1").text = part_file(key,
                                                                                    part.id)
        if level is not None:
            options = ET.SubElement(source, "OpenOptions")
            ET.SubElement(options, "OOI", key="OVERVIEW_LEVEL").text = str(level)
        ET.SubElement(source, "SourceBand").text = "1"
        ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(cols), ySize=str(rows))
        ET.SubElement(source, "DstRect", xOff=str(c0), yOff=str(r0), xSize=str(cols),
                      ySize=str(rows))
    for name in overviews:
        overview = ET.SubElement(band, "Overview")
        ET.SubElement(overview, "SourceFilename", relativeToVRT="1").text = name
        ET.SubElement(overview, "SourceBand").text = "1"
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"
