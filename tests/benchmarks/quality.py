"""Quality of the methods against a known truth: synthesis, composite, median, q25.

``python -m tests.benchmarks.quality [--out artifacts/quality] [--size 400] [--seeds 0 1 2]``
writes ``quality.md`` (one table) and ``quality.png`` (quicklooks and difference maps).

Cases: the demo scenes (which carry the true surface reflectance at the central date) for
several seeds, three cloud regimes and both mask flavours: Sen2Cor's SCL (which misses haze
and cloud rims, and calls bright soil cloud) and MAJA's (good masks) — the condition the
source text puts on its claim. And the real tile 33TWL of August 2023 with 08-15 held out,
scored on the pixels the SCL calls clear vegetation or soil on that date: the full tile, read
from the folder that ``L3A_REAL_TILE`` names (tests/data holds only a crop of it; without the
variable the run stops at once, or give ``--no-real``).

Every method runs with every cloud-mask chain (``--chains``, `engine.masks.chain`): the
items' own mask alone, and with the CNN, the temporal screen, the haze test, or several of
them added. A row is a
method with a chain, e.g. ``synthesis [scl+cnn]``; ``auto`` is the chain the engine picks.

Metrics per method: RMSE per band against the truth; residual cloud (share of pixels brighter
than the truth by more than 0.05 in blue); noise ratio (mean absolute Laplacian of the output
over that of the truth); date-switch fraction (share of 4-neighbour pixel pairs whose source
date differs; composites only); coverage (share of pixels with a value).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from catalog.demo import DEMO_BBOX, DEMO_EPSG, DEMO_PERIOD, demo_grid, read_truth, write_demo
from catalog.model import MaskFlavour
from catalog.search import search
from engine.contract import Order
from engine.errors import InvalidParameter
from engine.masks.chain import AUTO
from engine.period import parse_period
from engine.pipeline import compute_layers
from tests import real_tile

METHODS = ("synthesis", "composite", "median", "q25")
#: The chains scored, spelled without the native mask (which every chain has).
CHAINS = ("native", "cnn", "temporal", "haze", "cnn+temporal", "temporal+haze",
          "cnn+temporal+haze")
#: q25 is scored with the native mask only: a baseline, not a candidate.
NATIVE_ONLY = ("q25",)
#: The default chain of Sen2Cor items, spelled as `CHAINS` are: the figure shows it.
AUTO_SCL = AUTO[MaskFlavour.SCL].removeprefix("scl+")
DEMO_BANDS = ("blue", "green", "red", "nir", "swir16")
REAL_BANDS = ("blue", "green", "red", "nir")


@dataclass
class Scores:
    """The metrics of one method on one case."""

    rmse: dict[str, float]
    residual_cloud: float
    noise_ratio: float
    date_switch: float | None
    coverage: float


@dataclass
class Case:
    """One scene set with its truth, scored for every method."""

    name: str
    scores: dict[str, Scores] = field(default_factory=dict)
    quicklook: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    #: Seconds each chain took to compute its masks (the CNN's, when it is in the chain).
    mask_seconds: dict[str, float] = field(default_factory=dict)
    megapixels: float = 0.0  # of the output grid, times the number of observations


def _laplacian(image: np.ndarray) -> np.ndarray:
    centre = image[1:-1, 1:-1]
    lap = (image[:-2, 1:-1] + image[2:, 1:-1] + image[1:-1, :-2] + image[1:-1, 2:]
           - 4 * centre)
    return np.abs(lap)


def _date_switch(date: np.ndarray) -> float:
    valid_x = np.isfinite(date[:, 1:]) & np.isfinite(date[:, :-1])
    valid_y = np.isfinite(date[1:, :]) & np.isfinite(date[:-1, :])
    switches = ((date[:, 1:] != date[:, :-1]) & valid_x).sum() + \
        ((date[1:, :] != date[:-1, :]) & valid_y).sum()
    return float(switches / max(1, valid_x.sum() + valid_y.sum()))


def score(estimate: np.ndarray, truth: np.ndarray, bands: tuple[str, ...], where: np.ndarray,
          date: np.ndarray | None) -> Scores:
    """Metrics of ``estimate`` (B, Y, X) against ``truth`` on the pixels ``where``."""
    covered = np.isfinite(estimate).all(0) & where
    rmse = {}
    for b, band in enumerate(bands):
        diff = estimate[b][covered] - truth[b][covered]
        rmse[band] = float(np.sqrt(np.mean(diff * diff))) if diff.size else float("nan")
    blue = bands.index("blue")
    residual = float(((estimate[blue] - truth[blue]) > 0.05)[covered].mean())
    red = bands.index("red")
    both = covered[1:-1, 1:-1] & covered[:-2, 1:-1] & covered[2:, 1:-1] & \
        covered[1:-1, :-2] & covered[1:-1, 2:]
    noise = float(_laplacian(np.nan_to_num(estimate[red]))[both].mean() /
                  max(1e-9, _laplacian(truth[red])[both].mean()))
    switch = _date_switch(np.where(covered, date, np.nan)) if date is not None else None
    return Scores(rmse, residual, noise, switch, float(covered.sum() / max(1, where.sum())))


def _quicklook(rgb: np.ndarray) -> np.ndarray:
    scaled = np.clip(np.nan_to_num(rgb) / 0.25, 0, 1) ** (1 / 1.6)
    return (np.moveaxis(scaled, 0, -1) * 255).astype(np.uint8)


def _label(method: str, chain: str) -> str:
    return f"{method} [{chain}]"


def _chain_value(chain: str, flavour: str) -> str:
    return flavour if chain == "native" else f"{flavour}+{chain}"


def _run_methods(case: Case, items: list[Any], order_kw: dict[str, Any], truth: np.ndarray,
                 bands: tuple[str, ...], where: np.ndarray, flavour: str,
                 chains: tuple[str, ...], work: Path) -> None:
    """Score every method and chain on the pixels that all of them cover.

    The synthesis fills pixels seen only through clouds with the least cloudy observation
    (flagged cloud); the others leave them empty. Scoring each on its own pixels would charge
    the synthesis for pixels the others do not even attempt. CNN masks are computed once per
    case (one mask cache for all its methods), and the time each chain's masks took is kept.
    """
    estimates: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    cache = work / "masks"
    for chain in chains:
        value = _chain_value(chain, flavour)
        for method in METHODS:
            if method in NATIVE_ONLY and chain != "native":
                continue
            order = Order(method=method, bands=bands, cloud_mask=value, **order_kw)
            started = time.perf_counter()
            try:
                keys, layers, p = compute_layers(order, items, mask_cache=cache)
            except InvalidParameter as exc:
                # The real fixture has blue, green, red and nir only: the composite's indices
                # need the SWIR bands. Said in the table rather than hidden.
                case.skipped[_label(method, chain)] = str(exc)
                continue
            if "cnn" in chain and not case.mask_seconds:  # later chains read the cache
                case.mask_seconds["cnn"] = time.perf_counter() - started
            case.megapixels = len(p.context.groups) * p.grid.shape[0] * p.grid.shape[1] / 1e6
            date = layers[keys.index("date")] if method == "composite" else None
            if date is not None:
                date = np.where(date == -32768, np.nan, date)
            estimate = layers[: len(bands)]
            if "flag" in keys:  # the synthesis' cloud-only fallback is not a surface estimate
                estimate = np.where(layers[keys.index("flag")] == 1, np.nan, estimate)
            estimates[_label(method, chain)] = (estimate, date)
    common = where.copy()
    for estimate, _ in estimates.values():
        common &= np.isfinite(estimate).all(0)
    rgb = [bands.index(b) for b in ("red", "green", "blue")]
    for label, (estimate, date) in estimates.items():
        scores = score(estimate, truth, bands, common, date)
        scores.coverage = float((np.isfinite(estimate).all(0) & where).sum() / where.sum())
        case.scores[label] = scores
        case.quicklook[label] = estimate[rgb]
    case.quicklook["truth"] = truth[rgb]


def demo_case(seed: int, regime: str, flavour: str, size: int, work: Path,
              chains: tuple[str, ...] = CHAINS) -> Case:
    """Build a demo and score every method against its truth."""
    folder = work / f"demo-{flavour}-{regime}-{seed}"
    items_path = write_demo(folder, seed=seed, flavour=flavour, cloud_regime=regime,
                            size_px=size, resolution=20)
    period = parse_period(DEMO_PERIOD)
    items = search(str(items_path), DEMO_BBOX, *period.search_interval())
    grid = demo_grid(size, 20)
    bounds = grid.bounds
    truth = read_truth(folder, DEMO_BANDS)
    case = Case(f"demo {flavour.upper()} {regime} seed {seed}")
    _run_methods(case, items, {"bbox": DEMO_BBOX, "period": period, "resolution": 20,
                               "epsg": DEMO_EPSG, "bounds": bounds}, truth, DEMO_BANDS,
                 np.ones(truth.shape[1:], dtype=bool), flavour, chains, folder)
    return case


def real_case(work: Path, chains: tuple[str, ...] = CHAINS) -> Case:
    """Tile 33TWL, August 2023: the four other dates against the clear 08-15 observation.

    The full tile (``$L3A_REAL_TILE``, `real_tile.full_tile_ndjson`), over the 40 x 40 km of
    `real_tile.FULL_BBOX`: the crop in tests/data is too small for these figures.
    """
    held, others = real_tile.held_out_split(real_tile.full_tile_ndjson(), real_tile.FULL_BBOX)
    order_kw = {"bbox": real_tile.FULL_BBOX, "period": real_tile.period(), "resolution": 60}
    _, _, plan = compute_layers(Order(method="median", bands=REAL_BANDS, **order_kw), others)
    rho, scl_stack = real_tile.reflectance(held, plan.grid, REAL_BANDS)
    truth, scl = rho[0], scl_stack[0]
    case = Case("real 33TWL 2023-08 (08-15 held out)")
    _run_methods(case, others, order_kw, truth, REAL_BANDS,
                 np.isin(scl, [4, 5]) & np.isfinite(truth).all(0), "scl", chains, work)
    return case


def markdown(cases: list[Case]) -> str:
    """One table: a row per case and method."""
    lines = ["| case | method | RMSE blue | RMSE red | RMSE nir | residual cloud | noise ratio "
             "| date switch | coverage |", "|---|---|---|---|---|---|---|---|---|"]
    for case in cases:
        for method, s in case.scores.items():
            switch = "-" if s.date_switch is None else f"{s.date_switch:.3f}"
            lines.append(f"| {case.name} | {method} | {s.rmse['blue']:.4f} | "
                         f"{s.rmse['red']:.4f} | {s.rmse['nir']:.4f} | {s.residual_cloud:.4f} | "
                         f"{s.noise_ratio:.2f} | {switch} | {s.coverage:.3f} |")
        for method, why in case.skipped.items():
            lines.append(f"| {case.name} | {method} | not computed: {why} ||||||| ")
    return "\n".join(lines) + "\n"


def mask_costs(cases: list[Case]) -> str:
    """Seconds per megapixel (output pixels x observations) of each chain's CNN masks."""
    lines = ["| case | chain | mask seconds | seconds per megapixel |", "|---|---|---|---|"]
    for case in cases:
        for chain, seconds in case.mask_seconds.items():
            lines.append(f"| {case.name} | {chain} | {seconds:.2f} | "
                         f"{seconds / max(case.megapixels, 1e-9):.2f} |")
    return "\n".join(lines) + "\n"


def figure(cases: list[Case], path: Path, panel: int = 256) -> None:
    """Quicklooks (truth, synthesis, composite, median) and |difference| maps, a row a case."""
    columns = ["truth", *(_label(m, c) for m in ("synthesis", "composite", "median")
                          for c in ("native", AUTO_SCL))]
    differences = [_label("synthesis", "native"), _label("synthesis", AUTO_SCL),
                   _label("composite", AUTO_SCL)]
    width = panel * (len(columns) + len(differences))
    image = Image.new("RGB", (width, (panel + 18) * len(cases)), "white")
    draw = ImageDraw.Draw(image)
    for row, case in enumerate(cases):
        y = row * (panel + 18)
        draw.text((4, y + 2), case.name, fill="black")
        truth = case.quicklook["truth"]
        for col, name in enumerate(columns):
            if name not in case.quicklook:
                continue
            tile = Image.fromarray(_quicklook(case.quicklook[name])).resize((panel, panel))
            image.paste(tile, (col * panel, y + 18))
            draw.text((col * panel + 4, y + 20), name, fill="yellow")
        for k, name in enumerate(differences):
            if name not in case.quicklook:
                continue
            diff = np.nanmean(np.abs(case.quicklook[name] - truth), axis=0)
            grey = (np.clip(np.nan_to_num(diff, nan=0.2) / 0.05, 0, 1) * 255).astype(np.uint8)
            tile = Image.fromarray(grey).resize((panel, panel))
            x = (len(columns) + k) * panel
            image.paste(tile.convert("RGB"), (x, y + 18))
            draw.text((x + 4, y + 20), f"|{name} - truth| (0-0.05)", fill="red")
    image.save(path)


def main(argv: list[str] | None = None) -> list[Case]:
    """Run every case, write the table and the figure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="artifacts/quality")
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--regimes", nargs="+", default=["clear", "half", "overcast"])
    parser.add_argument("--flavours", nargs="+", default=["scl", "maja"])
    parser.add_argument("--chains", nargs="+", default=list(CHAINS), choices=CHAINS)
    parser.add_argument("--no-real", action="store_true", help="skip the real tile")
    args = parser.parse_args(argv)
    if not args.no_real:
        real_tile.full_tile_ndjson()  # fail now, not after the demo cases, when it is missing
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore")
    cases = []
    with tempfile.TemporaryDirectory(prefix="l3a-quality-") as work:
        for flavour in args.flavours:
            for regime in args.regimes:
                for seed in args.seeds:
                    cases.append(demo_case(seed, regime, flavour, args.size, Path(work),
                                           tuple(args.chains)))
                    print(markdown(cases[-1:]), flush=True)
        if not args.no_real:
            cases.append(real_case(Path(work), tuple(args.chains)))
    table = markdown(cases)
    (out / "quality.md").write_text(table + "\n" + mask_costs(cases))
    (out / "quality.json").write_text(json.dumps(
        {c.name: {m: s.__dict__ for m, s in c.scores.items()} for c in cases}, indent=1))
    shown = [c for c in cases if c.name.endswith("seed 0") or c.name.startswith("real")]
    figure(shown, out / "quality.png")
    print(table)
    print(mask_costs(cases))
    return cases


if __name__ == "__main__":
    main()
