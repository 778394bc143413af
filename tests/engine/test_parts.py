"""Orders built in parts (`engine.parts`): the same pixels as one part, one product, no leftovers.

The order is a bbox of the demo that cuts its input tiles, about 700 px a side at 20 m, so that
parts of 512 px make a 2 x 2 mosaic whose seams cross clouds, input tiles and blocks. Each
method is built once in one part and once in parts; the layers are compared pixel for pixel,
at full resolution and at every overview level.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rio_cogeo.cogeo import cog_validate

from catalog.demo import DEMO_BBOX, DEMO_PERIOD, ensure_demo
from catalog.model import Grid, NormalizedItem
from catalog.search import search
from engine import cloud_weight
from engine.contract import Order
from engine.errors import Cancelled
from engine.parts import PART_FIELD, VRT_TYPE, Part, mosaic_vrts, part_side, split
from engine.period import parse_period
from engine.pipeline import build_product
from engine.write import LayerSpec, PartedProduct, PartWriter
from tests.stac_schemas import item_errors

#: About 13 x 14 km inside the demo, not on its 20 m tiles' lattice: ~690 x 760 px at 20 m.
BBOX = (DEMO_BBOX[0] + 0.031, DEMO_BBOX[1] + 0.027, DEMO_BBOX[0] + 0.21, DEMO_BBOX[1] + 0.155)
PART = 512
METHODS = ("synthesis", "composite", "median")


def order(method: str) -> Order:
    # The synthesis with the default mask chain (CNN masks and the temporal screen cross the
    # seams too); the others with the SCL alone, which is faster and enough for them.
    return Order(bbox=BBOX, period=parse_period(DEMO_PERIOD), method=method, resolution=20,
                 bands=("blue", "green", "red", "nir"),
                 cloud_mask="auto" if method == "synthesis" else "scl")


@pytest.fixture(scope="module")
def items(demo: Path) -> list[NormalizedItem]:
    period = parse_period(DEMO_PERIOD)
    return search(str(ensure_demo(demo.parent)), BBOX, *period.search_interval())


@pytest.fixture(scope="module")
def built(items: list[NormalizedItem], tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, tuple[Path, Path]]:
    """Per method: (the one-part product, the product in parts of 512 px)."""
    root = tmp_path_factory.mktemp("parts")
    out = {}
    for method in METHODS:
        one = build_product(order(method), items, root / method / "one" / "p", product_id="p")
        parted = build_product(order(method), items, root / method / "parts" / "p",
                               product_id="p", part_size=PART)
        out[method] = (one, parted)
    return out


# ---------------------------------------------------------------- the parts of a grid


def test_a_grid_is_cut_in_squares_from_its_top_left_corner() -> None:
    parts = split((1000, 1300), 512)
    assert [p.id for p in parts] == ["r0c0", "r0c1", "r0c2", "r1c0", "r1c1", "r1c2"]
    assert [p.window for p in parts[:3]] == [(0, 512, 0, 512), (0, 512, 512, 1024),
                                             (0, 512, 1024, 1300)]
    assert parts[-1].window == (512, 1000, 1024, 1300) and parts[-1].shape == (488, 276)
    # They tile the grid: every pixel in exactly one part.
    cover = np.zeros((1000, 1300), np.int8)
    for p in parts:
        r0, r1, c0, c1 = p.window
        cover[r0:r1, c0:c1] += 1
    assert (cover == 1).all()
    assert [p.id for p in split((512, 512), 512)] == ["r0c0"]


def test_the_part_side_is_whole_writer_cells() -> None:
    assert part_side(8192, 512) == 8192
    assert part_side(8000, 512) == 8192
    assert part_side(1, 1024) == 1024
    with pytest.raises(ValueError, match="positive"):
        part_side(0, 512)


def test_a_parts_grid_is_the_whole_grids_pixels_cut_to_it() -> None:
    whole = Grid(32631, (1000, 1300), (20.0, 0.0, 600000.0, 0.0, -20.0, 5000000.0))
    grid = split(whole.shape, 512)[4].grid(whole)  # r1c1
    assert grid.shape == (488, 512)
    assert grid.transform == (20.0, 0.0, 600000.0 + 512 * 20, 0.0, -20.0, 5000000.0 - 512 * 20)


def test_the_mosaic_vrts_place_each_part_at_every_level(tmp_path: Path) -> None:
    whole = Grid(32631, (600, 700), (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0))
    parts = split(whole.shape, 512)
    for value, part in enumerate(parts, start=1):
        g = part.grid(whole)
        with rasterio.open(tmp_path / f"red.{part.id}.tif", "w", driver="GTiff",
                           width=g.shape[1], height=g.shape[0], count=1, dtype="int16",
                           crs="EPSG:32631", transform=rasterio.Affine(*g.transform),
                           nodata=-32768) as ds:
            ds.write(np.full((1, *g.shape), value, np.int16))
            ds.build_overviews([2, 4], Resampling.nearest)
    files = mosaic_vrts(whole, "red", "int16", -32768, parts, (2, 4))
    assert sorted(files) == ["red.ovr2.vrt", "red.ovr4.vrt", "red.vrt"]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with rasterio.open(tmp_path / "red.vrt") as ds:
        assert ds.shape == whole.shape and ds.crs.to_epsg() == 32631
        assert tuple(ds.transform)[:6] == whole.transform
        assert ds.nodata == -32768 and ds.overviews(1) == [2, 4]
        data = ds.read(1)
    assert data[0, 0] == 1 and data[0, 699] == 2 and data[599, 0] == 3 and data[599, 699] == 4
    assert data[511, 511] == 1 and data[512, 512] == 4
    # Overviews are sized as the parts' (rounded up: 700 / 4 -> 175, 600 / 4 -> 150), with
    # each part's overview pixels in place: part r0c1 starts at column 512 / 4 = 128.
    with rasterio.open(tmp_path / "red.vrt", overview_level=1) as ds:
        assert ds.shape == (150, 175)
        level = ds.read(1)
    assert level[0, 127] == 1 and level[0, 128] == 2 and level[127, 0] == 1
    assert level[128, 0] == 3 and level[149, 174] == 4


# ---------------------------------------------------------------- the same pixels


def read_levels(path: Path) -> list[np.ndarray]:
    """Full resolution, then each overview level of the one-part COG (2, 4, ...)."""
    with rasterio.open(path) as ds:
        levels = [ds.read(1)]
        for factor in ds.overviews(1):
            shape = (-(-ds.height // factor), -(-ds.width // factor))
            levels.append(ds.read(1, out_shape=shape, resampling=Resampling.nearest))
    return levels


@pytest.mark.parametrize("method", METHODS)
def test_a_product_in_parts_has_the_one_part_products_pixels(
        built: dict[str, tuple[Path, Path]], method: str) -> None:
    one, parted = built[method]
    item = json.loads((one / "item.json").read_text())
    with rasterio.open(one / "red.tif") as ds:
        assert ds.height > PART and ds.width > PART, "the order must make several parts"
    for key in item["assets"]:
        expected = read_levels(one / f"{key}.tif")
        ours = read_levels(parted / f"{key}.vrt")
        assert len(ours) == len(expected) >= 2, key
        for level, (a, b) in enumerate(zip(ours, expected, strict=True)):
            assert np.array_equal(a, b, equal_nan=True), (
                f"{key}, level {level}: {np.sum(a != b)} pixels differ")


def test_the_synthesis_weights_cross_the_seams(built: dict[str, tuple[Path, Path]]) -> None:
    # The cloud field reaches across a part's edge: weights next to a seam are below 1 on
    # both sides somewhere (a cloud of one part lowers the other part's weights). Their
    # equality with the one-part build is the test above; this checks that it tests that.
    one, _ = built["synthesis"]
    with rasterio.open(one / "weight.tif") as ds:
        weight = ds.read(1)
    near_seam = weight[:, PART - 8:PART + 8]
    assert np.nanmin(near_seam) < 0.9 * np.nanmax(near_seam)


def test_a_product_in_parts_is_one_valid_stac_item_with_mosaics_and_part_cogs(
        built: dict[str, tuple[Path, Path]]) -> None:
    one, parted = built["composite"]
    item = json.loads((parted / "item.json").read_text())
    layers = json.loads((one / "item.json").read_text())["assets"]
    assert item_errors(item) == []
    with rasterio.open(one / "red.tif") as ds:
        parts = split(ds.shape, PART)
        factors = ds.overviews(1)
    assert len(parts) == 4 and factors
    for key, asset in layers.items():
        mosaic = item["assets"][key]
        assert mosaic["href"] == f"./{key}.vrt" and mosaic["type"] == VRT_TYPE
        assert mosaic["proj:shape"] == asset["proj:shape"]
        assert mosaic["roles"] == asset["roles"]
        for part in parts:
            piece = item["assets"][f"{key}.{part.id}"]
            assert piece[PART_FIELD] == part.id and piece["href"] == f"./{key}.{part.id}.tif"
            assert piece["proj:shape"] == list(part.shape)
            path = parted / piece["href"]
            assert cog_validate(str(path))[0], path
            with rasterio.open(path) as ds:
                assert ds.shape == part.shape
                assert ds.overviews(1), "each part carries the product's overview levels"
    overviews = {f"{key}.ovr{factor}.vrt" for key in layers for factor in factors}
    named = {a["href"][2:] for a in item["assets"].values()} | {"item.json"} | overviews
    assert {p.name for p in parted.iterdir()} == named, "no file beside the item's"
    assert [p.name for p in parted.parent.iterdir()] == ["p"], "no staging folder left"


def test_an_order_within_one_part_is_built_exactly_as_before(
        items: list[NormalizedItem], tmp_path: Path) -> None:
    def digest(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}

    plain = build_product(order("median"), items, tmp_path / "a" / "p", product_id="p")
    roomy = build_product(order("median"), items, tmp_path / "b" / "p", product_id="p",
                          part_size=4096)
    assert digest(plain) == digest(roomy)
    assert all(name.endswith((".tif", ".json")) for name in digest(roomy))


# ---------------------------------------------------------------- the cloud field of a part


def test_weights_from_a_crop_of_the_cloud_fields_are_the_whole_fields() -> None:
    rng = np.random.default_rng(3)
    factor, cells = 12, (20, 30)
    gs = rng.random((2, *cells), dtype=np.float32) * 0.5
    gl = rng.random((2, *cells), dtype=np.float32) * 0.5
    window = (96, 200, 120, 250)  # a part, not on cell boundaries
    rows, cols = cloud_weight.crop_window(window, factor, cells)
    # Pixel 96 sits between cell centres 7 and 8, pixel 199 between 16 and 17 (centres at
    # (i + 0.5) / 12 - 0.5): cells 7 to 17; columns 120 to 249: cells 9 to 21.
    assert (rows, cols) == (slice(7, 18), slice(9, 22))
    crop_s, crop_l = gs[:, rows, cols], gl[:, rows, cols]
    for y0, y1, x0, x1 in [(96, 140, 120, 250), (140, 200, 180, 250)]:
        whole = cloud_weight.cloud_weight_block(gs, gl, factor, y0, x0, (y1 - y0, x1 - x0),
                                                None)
        cropped = cloud_weight.cloud_weight_block(
            crop_s, crop_l, factor, y0, x0, (y1 - y0, x1 - x0), None,
            (rows.start, cols.start), cells)
        assert np.array_equal(whole, cropped)
    # A block outside the crop's cells is refused, not computed from the wrong cells.
    with pytest.raises(ValueError, match="outside the cropped field"):
        cloud_weight.cloud_weight_block(crop_s, crop_l, factor, 0, 0, (10, 10), None,
                                        (rows.start, cols.start), cells)


def test_a_parts_own_cloud_fields_are_the_whole_orders(demo: Path) -> None:
    from engine.part_tasks import part_cloud_fields
    from engine.pipeline import cloud_fields, finish, plan

    # The whole demo at 10 m: 83 cells of 240 m a side, so that the 40 cells of margin of
    # most parts of 512 px (21 cells) stop inside the order, not at its edges.
    period = parse_period(DEMO_PERIOD)
    demo_items = search(str(ensure_demo(demo.parent)), DEMO_BBOX, *period.search_interval())
    whole_order = Order(bbox=DEMO_BBOX, period=period, method="synthesis", resolution=10,
                        bands=("blue", "red", "nir"), cloud_mask="scl")
    whole = cloud_fields(plan(whole_order, demo_items), None)
    try:
        gs, gl = whole.context.gs, whole.context.gl
        assert gs is not None and gl is not None
        cells = (int(gs.shape[1]), int(gs.shape[2]))
        inside = 0
        for part in split(whole.grid.shape, PART):
            bare = replace(whole.inputs, context=replace(whole.context, gs=None, gl=None))
            own = part_cloud_fields(bare, part.window, whole.grid.shape, threads=2).context
            rows, cols = cloud_weight.crop_window(part.window, whole.context.factor, cells)
            assert own.field_origin == (rows.start, cols.start) and own.field_cells == cells
            assert np.array_equal(own.gs, gs[:, rows, cols]), part.id
            assert np.array_equal(own.gl, gl[:, rows, cols]), part.id
            margin = cloud_weight.FIELD_MARGIN_CELLS
            inside += rows.start > margin or cols.start > margin
        assert inside >= 4, "parts whose margin stops inside the order were compared"
        assert gl.max() > 0.5 and gl.min() < 0.1, "the field has clouds and clear sky"
    finally:
        finish(whole, None)


# ---------------------------------------------------------------- failures


def test_a_cancelled_build_in_parts_leaves_nothing(items: list[NormalizedItem],
                                                   tmp_path: Path) -> None:
    cancel = threading.Event()
    seen: list[str] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("1/4 parts"):
            cancel.set()

    with pytest.raises(Cancelled):
        build_product(order("median"), items, tmp_path / "p", progress=progress,
                      cancel=cancel, part_size=PART)
    assert "1/4 parts" in seen
    assert list(tmp_path.iterdir()) == []


SPECS = (LayerSpec("red", "int16", -32768, "AVERAGE", 1e-4),)
WHOLE = Grid(32631, (600, 700), (20.0, 0.0, 500000.0, 0.0, -20.0, 4000000.0))


def test_a_part_never_recreates_a_removed_product_folder(tmp_path: Path) -> None:
    folder = tmp_path / ".product.partial"  # removed by a cancelled build: never made here
    with pytest.raises(FileNotFoundError), PartWriter(folder, split(WHOLE.shape, 512)[0],
                                                      WHOLE, SPECS):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_part_staged_on_a_workers_own_disk_lands_whole_in_the_product(
        tmp_path: Path) -> None:
    folder, scratch = tmp_path / ".product.partial", tmp_path / "worker-disk"
    folder.mkdir()
    scratch.mkdir()
    part = split(WHOLE.shape, 512)[1]  # r0c1: 512 x 188
    block = np.full((1, *part.shape), 0.25, np.float32)
    with PartWriter(folder, part, WHOLE, SPECS, scratch=scratch) as writer:
        assert writer.staging.parent == scratch
        writer.write_block(slice(0, part.shape[0]), slice(0, part.shape[1]), block)
        assert writer.publish_part() == ["red.r0c1.tif"]
    assert [p.name for p in folder.iterdir()] == ["red.r0c1.tif"]
    assert list(scratch.iterdir()) == []
    with rasterio.open(folder / "red.r0c1.tif") as ds:
        assert ds.shape == part.shape and (ds.read(1) == 2500).all()
        assert tuple(ds.transform)[:6] == part.grid(WHOLE).transform


def test_a_product_is_published_only_with_every_part(tmp_path: Path) -> None:
    parts = split(WHOLE.shape, 512)
    block = np.full((1, 512, 512), 0.1, np.float32)
    with pytest.raises(RuntimeError, match=r"parts \['r0c1', 'r1c0', 'r1c1'\] are not"), \
            PartedProduct(tmp_path / "p", WHOLE, SPECS, parts) as product:
        with PartWriter(product.staging, parts[0], WHOLE, SPECS) as writer:
            writer.write_block(slice(0, 512), slice(0, 512), block)
            files = writer.publish_part()

        class Done:
            id, files = parts[0].id, ()

        product.add(Done)
        product.publish({"type": "Feature"})
    assert files == ["red.r0c0.tif"]
    assert list(tmp_path.iterdir()) == [], "nothing visible, the written part gone too"


def test_what_a_lost_worker_left_is_not_published(tmp_path: Path) -> None:
    parts = split((512, 512), 512)
    whole = Grid(32631, (512, 512), WHOLE.transform)
    with PartedProduct(tmp_path / "p", whole, SPECS, parts) as product:
        # A worker killed while staging a part here, and one killed while copying a COG.
        (product.staging / ".r0c0.0123.partial" / "raw").mkdir(parents=True)
        (product.staging / ".red.r0c0.tif.4567.partial").write_bytes(b"half a COG")
        with PartWriter(product.staging, parts[0], whole, SPECS) as writer:
            writer.write_block(slice(0, 512), slice(0, 512),
                               np.full((1, 512, 512), 0.1, np.float32))

            class Written:
                id, files = parts[0].id, tuple(writer.publish_part())

        product.add(Written)
        published = product.publish({"type": "Feature"})
    assert sorted(p.name for p in published.iterdir()) == [
        "item.json", "red.ovr2.vrt", "red.r0c0.tif", "red.vrt"]


def test_a_part_that_reports_files_it_did_not_write_is_refused(tmp_path: Path) -> None:
    class Lying:
        id, files = "r0c0", ("red.r0c0.tif",)

    with pytest.raises(RuntimeError, match="not there"), \
            PartedProduct(tmp_path / "p", WHOLE, SPECS, split(WHOLE.shape, 512)) as product:
        product.add(Lying)
    assert list(tmp_path.iterdir()) == []


def test_a_part_is_a_square_of_the_grid() -> None:
    part = Part(1, 2, (512, 600, 1024, 1100))
    assert part.id == "r1c2" and part.offset == (512, 1024) and part.shape == (88, 76)


def test_a_product_in_parts_stages_where_workers_find_it(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Workers run elsewhere: a relative output folder (the default data directory is one)
    # must reach them as the client's absolute path, not theirs.
    monkeypatch.chdir(tmp_path)
    product = PartedProduct(Path("products") / "p", WHOLE, SPECS, split(WHOLE.shape, 512))
    assert product.staging.is_absolute()
    assert product.staging.parent == tmp_path / "products"
