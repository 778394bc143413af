"""Spectral helpers of the composite and the percentiles: indices and complete spectra.

NDVI, mNDWI (= the S2GM NDSI) and Tasselled Cap brightness follow the S2GM ATBD. Every index
function takes float32 reflectance arrays of any (equal) shape and returns float32 of that
shape. Normalised differences are 0 where their denominator is 0 (both bands 0 reflectance):
the index carries no information there, and a NaN would poison the per-pixel means of the
short-term composite. NaN inputs (nodata) still give NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.methods.base import F32, Observations

Bool = npt.NDArray[np.bool_]

#: Sentinel-2 common names of the band numbers the S2GM ATBD writes its formulas with.
BLUE, GREEN, RED, REDEDGE2, NIR, NIR08, SWIR16, SWIR22 = (
    "blue",  # B02
    "green",  # B03
    "red",  # B04
    "rededge2",  # B06
    "nir",  # B08
    "nir08",  # B8A
    "swir16",  # B11
    "swir22",  # B12
)

#: Tasselled Cap brightness coefficients for Sentinel-2 (S2GM ATBD), by common name.
TCB_COEFFICIENTS: dict[str, float] = {
    BLUE: 0.3029,
    GREEN: 0.2786,
    RED: 0.4733,
    NIR08: 0.5599,
    SWIR16: 0.508,
    SWIR22: 0.1872,
}


def normalized_difference(a: F32, b: F32) -> F32:
    """Compute (a - b) / (a + b) in float32, 0 where a + b == 0, without 0/0 warnings.

    Args:
        a: first band, float32.
        b: second band, float32, same shape.

    Returns:
        The normalised difference, float32; NaN where either input is NaN.

    """
    num = np.subtract(a, b, dtype=np.float32)
    den = np.add(a, b, dtype=np.float32)
    out = np.zeros_like(num)
    # where= leaves 0 in `out` for a zero denominator, so no 0/0 warning and no NaN;
    # NaN denominators (nodata) are divided and stay NaN.
    np.divide(num, den, out=out, where=den != 0)
    return out


def ndvi(red: F32, nir: F32) -> F32:
    """Compute NDVI = (B08 - B04) / (B08 + B04)."""
    return normalized_difference(nir, red)


def mndwi(green: F32, swir16: F32) -> F32:
    """Compute the modified NDWI (B03 - B11) / (B03 + B11), also the S2GM NDSI."""
    return normalized_difference(green, swir16)


#: The S2GM NDSI is exactly the mNDWI formula (green against SWIR 1.6 um).
ndsi = mndwi


def tcb(blue: F32, green: F32, red: F32, nir08: F32, swir16: F32, swir22: F32) -> F32:
    """Compute the Tasselled Cap brightness, float32.

    TCB = 0.3029 B02 + 0.2786 B03 + 0.4733 B04 + 0.5599 B8A + 0.508 B11 + 0.1872 B12.
    """
    bands = (blue, green, red, nir08, swir16, swir22)
    names = (BLUE, GREEN, RED, NIR08, SWIR16, SWIR22)
    out = np.zeros(np.shape(blue), dtype=np.float32)
    for name, band in zip(names, bands, strict=True):
        # float32 scalar: a Python float would keep float32 anyway under NEP 50, but say it.
        out += np.float32(TCB_COEFFICIENTS[name]) * band
    return out


def complete_spectra(obs: Observations) -> Bool:
    """Tell where an observation has a value in every band, bool (T, Y, X).

    Equivalent to "no band of ``obs.reflectance`` is NaN" without converting every band to
    float: a reflectance is NaN only where its DN is 0 or its scale or offset is not finite.
    """
    present = np.ones((obs.dn.shape[0], *obs.shape), dtype=bool)
    finite = np.isfinite(obs.scale) & np.isfinite(obs.offset)  # (T, B)
    for b in range(len(obs.bands)):
        present &= obs.dn[:, b] != 0
        present[~finite[:, b]] = False
    return present
