"""Masks: per-observation pixel classes, from each source of cloud masks.

One module per source: `engine.masks.scl` (Sen2Cor), `engine.masks.maja` (MAJA),
`engine.masks.cnn` (a CNN on the observation's reflectance), `engine.masks.temporal` (a
multi-temporal screen); `engine.masks.dilation` grows clouds by a distance, and
`engine.masks.chain` says which sources an order uses and how they combine.
"""

from engine.masks.chain import MaskChain
from engine.masks.dilation import dilate_clouds
from engine.masks.maja import scl_from_maja
from engine.masks.scl import (
    SCL_ADDED_CLOUD,
    SCL_CLOUD,
    SCL_LAND,
    SCL_NODATA,
    SCL_SNOW,
    SCL_WATER,
    classify_scl,
)

__all__ = [
    "SCL_ADDED_CLOUD",
    "SCL_CLOUD",
    "SCL_LAND",
    "SCL_NODATA",
    "SCL_SNOW",
    "SCL_WATER",
    "MaskChain",
    "classify_scl",
    "dilate_clouds",
    "scl_from_maja",
]
