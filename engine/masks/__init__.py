"""Masks: per-observation pixel classes, from each source of cloud masks.

One module per source: `engine.masks.scl` (Sen2Cor), `engine.masks.maja` (MAJA),
`engine.masks.cnn` (a CNN on the observation's reflectance), `engine.masks.temporal` (a
multi-temporal screen), `engine.masks.haze` (a haze test on each observation's colour);
`engine.masks.dilation` grows clouds by a distance, and
`engine.masks.chain` says which sources an order uses and how they combine.

Nothing is imported here: `engine.masks.chain` is what the API and the CLI check an order's
``cloud_mask`` with, and it must not load numpy and numba's kernels with it.
"""
