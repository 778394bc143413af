"""Where the synthesis' residual cloud comes from, on a demo case (issue 13).

``python -m tests.benchmarks.residual_cloud half [--chain auto] [--seed 0]
[--min-references 2] [--dilation 0]`` builds the Sen2Cor-flavoured demo of a cloud regime
(400 px at 20 m, as `tests.benchmarks.quality`), computes the synthesis, composite and median
with a mask chain, and prints, for the pixels where the synthesis' blue exceeds the truth by
0.05 (the quality benchmark's residual cloud): how many land observations the reduction had
there, and what the demo's truth says those observations were (clear, thin cloud or haze,
cloud, shadow). It also prints each method's RMSE and residual cloud on the pixels all three
cover, and how many observations the temporal screen and the haze test flagged and how many
of them were truly contaminated. ``--min-references`` and ``--dilation`` try the screen's
parameter and a cloud dilation without changing the defaults.

It records the classes the reduction sees by wrapping `engine.blocks.screen_observations` for
the run: the demo fits one block, so one call holds the whole grid.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import engine.blocks as blocks
from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD
from catalog.demo.build import read_truth, read_truth_clouds, write_demo
from catalog.demo.scenes import demo_grid
from catalog.search import search
from engine.contract import Order
from engine.masks.temporal import TemporalParams
from engine.methods.base import ObsClass
from engine.period import parse_period
from engine.pipeline import compute_layers

BANDS = ("blue", "green", "red", "nir", "swir16")
SIZE = 400
TRUTH = {0: "clear", 1: "thin/haze", 2: "cloud", 3: "shadow"}


def run(regime: str, chain: str, seed: int, min_references: int, dilation: float,
        work: Path) -> None:
    """Print the breakdown of one case."""
    folder = work / f"demo-scl-{regime}-{seed}"
    items_path = write_demo(folder, seed=seed, flavour="scl", cloud_regime=regime,
                            size_px=SIZE, resolution=20)
    period = parse_period(DEMO_PERIOD)
    items = search(str(items_path), DEMO_BBOX, *period.search_interval())
    grid = demo_grid(SIZE, 20)
    seen: dict[str, Any] = {}
    screen = blocks.screen_observations
    params = dataclasses.replace(TemporalParams(), min_references=min_references)

    def recording(classes: Any, scl: Any, dn: Any, ctx: Any) -> Any:
        out = screen(classes, scl, dn, dataclasses.replace(ctx, temporal=params))
        seen.update(before=classes.copy(), after=out[0].copy())
        return out

    estimates = {}
    blocks.screen_observations = recording
    try:
        for method in ("composite", "median", "synthesis"):  # the synthesis' classes kept
            order = Order(method=method, bands=BANDS, cloud_mask=chain, bbox=DEMO_BBOX,
                          period=period, resolution=20, epsg=DEMO_EPSG, bounds=grid.bounds,
                          cloud_dilation_m=dilation)
            keys, layers, _ = compute_layers(order, items, mask_cache=folder / "masks")
            estimate = layers[:len(BANDS)]
            if "flag" in keys:  # the cloud-only fallback is not a surface estimate
                estimate = np.where(layers[keys.index("flag")] == 1, np.nan, estimate)
            estimates[method] = estimate
    finally:
        blocks.screen_observations = screen
    truth = read_truth(folder, BANDS)
    common = np.ones(truth.shape[1:], dtype=bool)
    for estimate in estimates.values():
        common &= np.isfinite(estimate).all(0)
    print(f"{regime} seed {seed}, chain {chain}, min_references {min_references}, "
          f"dilation {dilation:g} m: {common.mean():.3f} of the grid covered by all")
    for method, estimate in estimates.items():
        rmse = [np.sqrt(np.mean((estimate[b] - truth[b])[common] ** 2)) for b in (0, 2, 3)]
        residual = ((estimate[0] - truth[0]) > 0.05)[common].mean()
        print(f"  {method:<10} RMSE blue/red/nir {rmse[0]:.4f} {rmse[1]:.4f} {rmse[2]:.4f}"
              f"  residual cloud {residual:.4f}")

    synthesis = estimates["synthesis"]
    valid = np.isfinite(synthesis).all(0)
    residual = ((synthesis[0] - truth[0]) > 0.05) & valid
    after, before = seen["after"], seen["before"]
    ids = [item.id for item in items]
    if after.shape[0] != len(ids):
        raise RuntimeError("observations were merged: the truth masks do not line up")
    codes = np.stack([read_truth_clouds(folder, i) for i in ids])
    land = after == ObsClass.LAND
    count = land.sum(0)
    print(f"  synthesis residual cloud {residual[valid].mean():.4f} of its "
          f"{valid.mean():.3f} covered; land observations at those pixels:")
    histogram = np.bincount(count[residual], minlength=6)
    print("    " + ", ".join(f"{n} obs: {k}" for n, k in enumerate(histogram[:5]))
          + f", 5+ obs: {histogram[5:].sum()}")
    print("  what those land observations were (truth): " + ", ".join(
        f"{name} {int((land & (codes == code))[:, residual].sum())}"
        for code, name in TRUTH.items()))
    dirty = land & np.isin(codes, [1, 2, 3])
    every = int(((dirty.sum(0) == count) & residual).sum())
    print(f"  residual pixels whose every land observation is contaminated: {every} of "
          f"{int(residual.sum())}")
    flagged = (before == ObsClass.LAND) & (after == ObsClass.CLOUD)
    print(f"  temporal screen and haze test: flagged {int(flagged.sum())} observations, "
          f"{int((flagged & np.isin(codes, [1, 2, 3])).sum())} of them contaminated; "
          f"contaminated land observations left: {int(dirty.sum())} of {int(land.sum())}")


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("regime", choices=("clear", "half", "overcast"))
    parser.add_argument("--chain", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-references", type=int,
                        default=TemporalParams().min_references)
    parser.add_argument("--dilation", type=float, default=0.0, help="metres")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="l3a-residual-") as work:
        run(args.regime, args.chain, args.seed, args.min_references, args.dilation, Path(work))


if __name__ == "__main__":
    main()
