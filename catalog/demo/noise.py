"""Seeded random fields: fractal (power-law) noise, smooth ramps and a logistic.

Every spatial pattern of the demo (parcel borders, textures, clouds, haze, aerosols) is a
sum of octaves of smoothed noise. Filtering white noise by a power law in the Fourier domain
gives all octaves at once, in one FFT, with a spectral slope chosen per phenomenon: clouds
have the ~k^-5/3 one-dimensional spectrum of turbulence (beta ~ 2.7 in 2D), textures are
rougher (beta ~ 2), aerosols smoother (beta ~ 3.5).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def fractal_noise(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    beta: float,
    outer_px: float,
    inner_px: float = 0.0,
    stretch: float = 1.0,
    angle_deg: float = 0.0,
) -> F32:
    """Gaussian random field with power spectrum ~ 1 / (f^2 + f0^2)^(beta/2), zero mean, std 1.

    Args:
        rng: the generator to draw the white noise from (consumes ``prod(shape)`` normals).
        shape: (rows, cols) of the field.
        beta: spectral slope of the 2D power spectrum; larger is smoother.
        outer_px: the largest structures, in pixels (the spectrum flattens below 1/outer_px).
        inner_px: Gaussian cut-off of structures smaller than this, in pixels (0: none).
        stretch: >1 elongates structures along ``angle_deg`` (cirrus streaks).
        angle_deg: direction of elongation, degrees clockwise from the image's row axis.

    Returns:
        float32 array of ``shape``, standardised to mean 0 and standard deviation 1.

    """
    rows, cols = shape
    white = rng.standard_normal(shape)
    spectrum = np.fft.rfft2(white)
    fy = np.fft.fftfreq(rows)[:, None]
    fx = np.fft.rfftfreq(cols)[None, :]
    if stretch != 1.0:
        # Compress frequencies across the streak direction less than along it: a field whose
        # correlation length is `stretch` times longer along `angle_deg`.
        a = np.deg2rad(angle_deg)
        along = fx * np.sin(a) + fy * np.cos(a)
        across = fx * np.cos(a) - fy * np.sin(a)
        f2 = (along * stretch) ** 2 + across**2
    else:
        f2 = fx**2 + fy**2
    f0 = 1.0 / max(outer_px, 1.0)
    amplitude = (f2 + f0**2) ** (-beta / 4.0)
    if inner_px > 0:
        amplitude *= np.exp(-f2 * inner_px**2)
    amplitude[0, 0] = 0.0  # zero mean
    field = np.fft.irfft2(spectrum * amplitude, s=shape)
    std = float(field.std())
    return (field / (std if std > 0 else 1.0)).astype(np.float32)


def ramp(x: npt.NDArray[np.floating], lo: float, hi: float) -> F32:
    """Map ``x`` to 0 below ``lo``, 1 above ``hi``, linearly in between (float32)."""
    out: F32 = np.clip((x - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return out


def logistic(x: F64 | float) -> F64:
    """Compute the logistic 1 / (1 + exp(-x)), for smooth phenological transitions."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64))), dtype=np.float64)
