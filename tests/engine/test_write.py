"""The product writer: overviews computed block by block, COGs that carry them, any block order."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rio_cogeo.cogeo import cog_validate

from catalog.model import Grid
from engine.write import LayerSpec, ProductWriter, halve, overview_factors, remove_staging

NAN = np.float32(np.nan)


def test_average_of_a_cell_counts_only_its_valid_pixels() -> None:
    values = np.array([[1, NAN, 4, 4],
                       [3, 5, 4, 8],
                       [NAN, NAN, 7, 1]], np.float32)
    out = halve(values, "AVERAGE")
    assert out.shape == (2, 2)  # the odd last row is a cell of its own (ceil, as GDAL)
    assert out[0, 0] == 3.0 and out[0, 1] == 5.0
    assert np.isnan(out[1, 0]) and out[1, 1] == 4.0


def test_nearest_keeps_an_existing_value() -> None:
    values = np.array([[4, 1, 2], [3, 1, 1], [2, 2, 0]], np.float32)
    assert halve(values, "NEAREST").tolist() == [[4, 2], [2, 0]]


@pytest.mark.parametrize(("shape", "block", "factors"), [
    ((2048, 2048), 512, (2, 4, 8)),  # down to 256, one COG tile
    ((5000, 3000), 512, (2, 4, 8, 16, 32)),
    ((200, 256), 512, ()),  # fits in one tile: no overview
    ((257, 10), 512, (2,)),
    ((100_000, 100), 512, (2, 4, 8, 16, 32, 64, 128, 256, 512)),  # capped by the block
])
def test_overview_factors(shape: tuple[int, int], block: int, factors: tuple[int, ...]) -> None:
    assert overview_factors(shape, block) == factors


def test_blocks_in_any_order_give_cogs_with_their_overviews(tmp_path: Path) -> None:
    height, width, block = 600, 1100, 256
    grid = Grid(32631, (height, width), (20.0, 0.0, 300000.0, 0.0, -20.0, 4900020.0))
    rng = np.random.default_rng(1)
    # Reflectance on multiples of 4e-4 so that 2 x 2 means are exact in DN; a hole of nodata.
    red = rng.integers(1, 2000, (height, width)).astype(np.float32) * np.float32(4e-4)
    red[:2, :2] = NAN  # a whole overview cell without data
    red[2, 2] = NAN  # a cell with three valid pixels of four
    flag = rng.integers(1, 5, (height, width)).astype(np.float32)
    flag[rng.random((height, width)) < 0.1] = NAN  # nodata (0 once stored)
    layers = [LayerSpec("red", "int16", -32768, "AVERAGE", 1e-4),
              LayerSpec("flag", "uint8", 0, "NEAREST")]
    windows = [(slice(r, min(r + block, height)), slice(c, min(c + block, width)))
               for r in range(0, height, block) for c in range(0, width, block)]
    random.Random(0).shuffle(windows)
    with ProductWriter(tmp_path / "p", grid, layers, block=block) as writer:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda w: writer.write_block(*w, np.stack([red[w], flag[w]])),
                          windows))
        out = writer.publish({"type": "Feature"})
    assert sorted(p.name for p in out.iterdir()) == ["flag.tif", "item.json", "red.tif"]
    dn = np.where(np.isnan(red), 0, np.rint(red * 1e4)).astype(np.int64)
    cells = dn.reshape(height // 2, 2, width // 2, 2)
    valid = ~np.isnan(red).reshape(height // 2, 2, width // 2, 2)
    expected = cells.sum(axis=(1, 3)) / np.maximum(valid.sum(axis=(1, 3)), 1)
    for key in ("red", "flag"):
        assert cog_validate(str(out / f"{key}.tif"))[0]
    with rasterio.open(out / "red.tif") as ds:
        assert ds.overviews(1) == [2, 4, 8]
        assert ds.compression.name.lower() == "zstd"
        assert (ds.read(1)[3:, 3:] == dn[3:, 3:]).all()
    with rasterio.open(out / "red.tif", overview_level=0) as ovr:
        half = ovr.read(1)
    assert half[0, 0] == -32768  # no valid pixel in the cell: nodata, not 0
    assert half[1, 1] == round(expected[1, 1])  # mean of the three valid pixels
    assert np.array_equal(half[2:, 2:], expected[2:, 2:].astype(np.int16))
    with rasterio.open(out / "flag.tif", overview_level=1) as ovr:
        assert np.array_equal(ovr.read(1), np.nan_to_num(flag[::4, ::4]).astype(np.uint8))


def test_a_block_off_the_overview_lattice_is_refused(tmp_path: Path) -> None:
    grid = Grid(32631, (600, 600), (20.0, 0.0, 300000.0, 0.0, -20.0, 4900020.0))
    with ProductWriter(tmp_path / "p", grid, [LayerSpec("count", "uint8", None, "NEAREST")],
                       block=256) as writer, pytest.raises(ValueError, match="aligned"):
        writer.write_block(slice(0, 256), slice(3, 259), np.zeros((1, 256, 256), np.float32))
    assert not (tmp_path / "p").exists()


def test_a_staging_folder_a_worker_still_writes_into_leaves_nothing(tmp_path: Path) -> None:
    # After a cancel, a part still running on a worker writes files into the product's
    # staging folder while the build removes it (dask cannot stop a running task).
    import threading

    staging = tmp_path / ".product.0123.partial"
    staging.mkdir()
    handle = (staging / "open.tif").open("wb")  # a file the worker already has open
    started, stop = threading.Event(), threading.Event()
    written: list[int] = []

    def worker() -> None:
        i = 0
        while not stop.is_set():
            try:
                (staging / f"part-{i}.tif").write_bytes(b"x" * 4096)
            except OSError:
                return  # its folder is gone: the part fails, as PartWriter's would
            written.append(i)
            i += 1
            started.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(5)
    remove_staging(staging)
    handle.write(b"y" * 4096)  # still writing through the open file: no new name appears
    handle.close()
    stop.set()
    thread.join(5)
    assert written  # the worker did write while the folder was being removed
    assert list(tmp_path.iterdir()) == []
