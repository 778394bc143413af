"""What every read of an input raster asks of it, whichever library opened it."""

from __future__ import annotations

from dataclasses import dataclass

#: Smallest cached unit, in pixels a side: strip-organised files are cached in bands of
#: strips at least this tall, small tiles in squares of them (a unit per 64 px tile or per
#: strip would cost more in bookkeeping than decoding).
MIN_UNIT = 256


@dataclass(frozen=True)
class SourceInfo:
    """What every read of a raster asks, read once at open.

    rasterio builds these objects anew on every access, and the EPSG lookup alone cost 5 % of
    the reads' time.
    """

    epsg: int | None
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]
    nodata: float | None
    dtype: str
    #: The cached unit (rows, cols): the internal tile, or a band of strips.
    unit: tuple[int, int]
    #: The internal block (rows, cols), to count compressed bytes.
    block: tuple[int, int]

    @property
    def tile(self) -> int:
        """The smaller side of its cached unit, in its own pixels."""
        return min(self.unit)


def _round_up(block: int, least: int) -> int:
    return block * -(-least // block)


def unit_of(block: tuple[int, int], shape: tuple[int, int]) -> tuple[int, int]:
    """The cached unit of a raster of ``shape`` stored in blocks of ``block`` (rows, cols)."""
    return (min(shape[0], _round_up(block[0], MIN_UNIT)),
            min(shape[1], _round_up(block[1], MIN_UNIT)))
