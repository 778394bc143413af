"""The per-block functions the pipeline maps over dask blocks.

Each block holds every observation and band of a window of pixels. These functions are pure
numpy: masks -> classes, same-acquisition merge, and the method's reduction. The pipeline
hands them a `BlockContext` with everything that is not pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.warp import transform_geom

from catalog.model import Grid, MaskFlavour
from engine import cloud_weight
from engine.acquisitions import merge_first_valid
from engine.masks.chain import MaskChain
from engine.masks.cnn import add_cnn_clouds
from engine.masks.dilation import dilate_clouds
from engine.masks.haze import HazeParams, haze_screen
from engine.masks.maja import scl_from_maja
from engine.masks.scl import SCL_ADDED_CLOUD, SCL_THIN_CLOUD, classify_scl
from engine.masks.temporal import TemporalParams, temporal_screen
from engine.methods.base import F32, U8, Method, ObsClass, Observations


@dataclass(frozen=True)
class BlockContext:
    """What a block needs besides its pixels. Picklable, so it travels to dask workers."""

    method: Method
    bands: tuple[str, ...]  # loaded bands, axis B of the DN
    output_bands: tuple[int, ...]  # indices into ``bands`` of the ordered bands
    flavour: MaskFlavour
    #: Which masks say "cloud". Its native mask is the first asset(s) of the mask block (SCL,
    #: or MAJA's CLM and MG2); with ``chain.cnn`` the network's mask is the last.
    chain: MaskChain
    groups: tuple[tuple[int, ...], ...]  # observation indices of each acquisition
    scale: F32  # (T, B) per merged observation
    offset: F32  # (T, B)
    days: F32  # (T,) days from the central date, per merged observation
    aot_scale: F32 | None  # (T_items,) DN -> AOT, NaN where an item has no AOT
    dilation_px: int
    factor: int  # output pixels per 240 m cloud-weight cell
    #: GeoJSON geometry in the grid's CRS: pixels outside it are nodata. None: the whole grid.
    footprint: dict[str, Any] | None = None
    grid_transform: tuple[float, float, float, float, float, float] | None = None
    gs: F32 | None = None  # (T, Yc, Xc) small-sigma cloud field, for methods that need it
    gl: F32 | None = None
    #: Where ``gs`` and ``gl`` sit in the order's field when they are a part's crop of it:
    #: (row, column) of their first cell, and the whole field's (rows, columns).
    field_origin: tuple[int, int] = (0, 0)
    field_cells: tuple[int, int] | None = None
    temporal: TemporalParams = field(default_factory=TemporalParams)
    haze: HazeParams = field(default_factory=HazeParams)

    @property
    def overlap(self) -> int:
        """Pixels of margin the mask blocks carry: enough for the cloud dilation."""
        return self.dilation_px

    @property
    def group_lists(self) -> list[list[int]]:
        """Groups as lists, the form `merge_first_valid` takes."""
        return [list(g) for g in self.groups]


def _trim(array: npt.NDArray[Any], overlap: int) -> npt.NDArray[Any]:
    return array[..., overlap:-overlap, overlap:-overlap] if overlap else array


def classes_and_scl(masks: npt.NDArray[Any], ctx: BlockContext) -> tuple[U8, U8]:
    """Classes and SCL-like values (T_items, Y, X) of a mask block (T_items, M, Y, X).

    The item's own mask, then the clouds of the chain's other per-scene sources (the CNN),
    then the cloud dilation. Wherever a source other than the item's own mask adds a cloud,
    the SCL-like value becomes "cloud, high probability", so that the composite's S2GM rules,
    which read the SCL, reject it too. The block may carry ``ctx.overlap`` pixels of margin
    (for cloud dilation); the result is trimmed to the core block.
    """
    if ctx.flavour is MaskFlavour.SCL:
        scl = masks[:, 0]
        classes = classify_scl(scl)
        scl = scl.astype(np.uint8, copy=False)
    else:
        clm, mg2 = masks[:, 0], masks[:, 1]
        # MAJA masks are 0 both for "clear" and outside the swath; data presence comes from
        # the reflectance (checked later), so here every pixel counts as observed.
        scl = scl_from_maja(clm, mg2)
        classes = classify_scl(scl)
    native = classes
    if ctx.chain.cnn:
        classes = add_cnn_clouds(classes, masks[:, -1])
    if ctx.dilation_px:
        classes = dilate_clouds(classes, ctx.dilation_px)
    if classes is not native:
        scl = np.where(classes != native, np.uint8(SCL_ADDED_CLOUD), scl)
    return _trim(classes, ctx.overlap), _trim(scl, ctx.overlap)


def screen_observations(classes: U8, scl: U8, dn: npt.NDArray[np.uint16],
                        ctx: BlockContext) -> tuple[U8, U8]:
    """The chain's tests on the merged observations' reflectance: temporal screen, haze test.

    Runs after the same-acquisition merge (one observation per date), on the reflectance of
    the bands the tests read (`engine.observations` loads them). Both judge the same input
    classes, and their clouds are united: neither depends on what the other flagged.
    Observations they reject become CLOUD; in the SCL-like values "cloud, high probability"
    (the temporal screen's outliers may be shadows), or "thin cirrus" when only the haze test
    rejects them (the surface seen through a veil: the synthesis' fallback prefers those).
    """
    if not (ctx.chain.temporal or ctx.chain.haze):
        return classes, scl

    obs = Observations(dn=dn, scale=ctx.scale, offset=ctx.offset, bands=ctx.bands,
                       classes=classes, scl=scl, days=ctx.days)
    blue = obs.reflectance("blue")
    screened, out_scl = classes, scl
    if ctx.chain.haze:
        screened = haze_screen(classes, ctx.days, blue, obs.reflectance("red"), ctx.haze)
        out_scl = np.where(screened != classes, np.uint8(SCL_THIN_CLOUD), scl)
    if ctx.chain.temporal:
        swir = obs.reflectance("swir16") if "swir16" in ctx.bands else None
        outliers = temporal_screen(classes, ctx.days, blue, obs.reflectance("nir"), swir,
                                   ctx.temporal)
        flagged = outliers != classes  # both tests only turn LAND into CLOUD
        screened = np.where(flagged, outliers, screened)
        out_scl = np.where(flagged, np.uint8(SCL_ADDED_CLOUD), out_scl)
    return screened, out_scl


def coarse_cloud_block(masks: npt.NDArray[Any], ctx: BlockContext) -> F32:
    """Pass 1: share of cloud in each 240 m cell of the block, per acquisition (T, Yc, Xc).

    One acquisition at a time: this pass's blocks are large (whole 240 m cells and whole COG
    tiles: 1536^2 at 10 m), and the full-resolution temporaries of all of them at once were
    the process's peak (measured: 170 MB a block, 28 MB per array).
    """
    fractions = []
    for members in ctx.group_lists:
        classes, _ = classes_and_scl(masks[members], ctx)
        has_data = classes != ObsClass.NODATA
        merged = merge_first_valid(classes, has_data, [list(range(len(members)))])
        fractions.append(cloud_weight.coarse_class_fraction(
            merged[0], ctx.factor, cloud=ObsClass.CLOUD, nodata=ObsClass.NODATA))
    return np.stack(fractions)


def reduce_block(
    dn: npt.NDArray[np.uint16],
    masks: npt.NDArray[Any],
    aot: npt.NDArray[Any] | None,
    ctx: BlockContext,
    block_info: dict[Any, Any] | None = None,
) -> F32:
    """Pass 2: the method's output for one block, stacked (B_out + Q, Y, X) float32."""
    classes, scl = classes_and_scl(masks, ctx)
    has_data = (dn[:, 0] != 0) & (classes != ObsClass.NODATA)
    groups = ctx.group_lists
    dn_merged = merge_first_valid(dn, has_data, groups)
    classes = merge_first_valid(classes, has_data, groups)
    scl = merge_first_valid(scl, has_data, groups)
    merged_has_data = merge_first_valid(has_data, has_data, groups)
    classes = np.where(merged_has_data, classes, np.uint8(ObsClass.NODATA))
    classes, scl = screen_observations(classes, scl, dn_merged, ctx)

    aot_values: F32 | None = None
    if aot is not None and ctx.aot_scale is not None:
        tau = aot[:, 0].astype(np.float32) * ctx.aot_scale[:, None, None]
        tau[aot[:, 0] == 0] = np.nan
        aot_values = merge_first_valid(tau, has_data, groups)

    weight_cloud: F32 | None = None
    if ctx.method.needs_cloud_weight and ctx.gs is not None and ctx.gl is not None:
        location = block_info[0]["array-location"] if block_info else [(0, 0)] * 4
        y0, x0 = location[-2][0], location[-1][0]
        weight_cloud = cloud_weight.cloud_weight_block(
            ctx.gs, ctx.gl, ctx.factor, y0, x0, classes.shape[-2:],
            classes == ObsClass.CLOUD, ctx.field_origin, ctx.field_cells,
        )

    obs = Observations(
        dn=dn_merged,
        scale=ctx.scale,
        offset=ctx.offset,
        bands=ctx.bands,
        classes=classes,
        scl=scl,
        days=ctx.days,
        aot=aot_values,
        cloud_weight=weight_cloud,
    )
    result = ctx.method.reduce(obs)
    layers = [result.reflectance[i] for i in ctx.output_bands]
    layers += [np.asarray(result.quality[q.key], dtype=np.float32) for q in ctx.method.quality]
    stacked = np.stack(layers).astype(np.float32, copy=False)
    if ctx.footprint is not None:
        _blank_outside(stacked, ctx, block_info)
    return stacked


def footprint_in_grid(geometry: dict[str, Any], grid: Grid) -> dict[str, Any]:
    """A lon/lat GeoJSON geometry in the CRS of ``grid``."""
    return dict(transform_geom("EPSG:4326", f"EPSG:{grid.epsg}", geometry))


def _blank_outside(stacked: F32, ctx: BlockContext, block_info: dict[Any, Any] | None) -> None:
    """Set the pixels of a block outside the order's polygon to nodata, layer by layer.

    Layers with a nodata value get NaN (the writer stores their nodata); counts, flags and
    weights, which have none, get 0 (no observation, nodata flag, no weight).
    """
    assert ctx.footprint is not None and ctx.grid_transform is not None
    location = block_info[0]["array-location"] if block_info else [(0, 0)] * 4
    y0, x0 = location[-2][0], location[-1][0]
    block_transform = Affine(*ctx.grid_transform) @ Affine.translation(x0, y0)
    outside = geometry_mask([ctx.footprint], out_shape=stacked.shape[-2:],
                            transform=block_transform, all_touched=False)
    n_bands = len(ctx.output_bands)
    stacked[:n_bands, outside] = np.nan
    for offset, layer in enumerate(ctx.method.quality):
        has_nodata = layer.nodata is not None
        stacked[n_bands + offset, outside] = np.nan if has_nodata else 0.0
