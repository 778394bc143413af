"""``L3A_DASK_SCHEDULER`` sends the CLI's build to that scheduler's workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from distributed import Client
from pyproj import Transformer

from api.cli import main
from catalog.demo import DEMO_EPSG, DEMO_PERIOD, demo_grid
from tests.distributed.conftest import DEMO_SIZE
from tests.distributed.support import DaskProcesses


def executed(dask_worker: object) -> int:
    """Tasks this worker has run (shipped to workers with `Client.run`)."""
    count: int = dask_worker.state.executed_count  # type: ignore[attr-defined]
    return count


def demo_lonlat_bbox(margin_m: float = 600.0) -> str:
    """The demo grid as ``W,S,E,N`` degrees, shrunk by a margin to stay inside its scenes."""
    x0, y0, x1, y1 = demo_grid(DEMO_SIZE, 20).bounds
    to_lonlat = Transformer.from_crs(DEMO_EPSG, 4326, always_xy=True)
    west, south, east, north = to_lonlat.transform_bounds(x0 + margin_m, y0 + margin_m,
                                                          x1 - margin_m, y1 - margin_m)
    return f"{west:.6f},{south:.6f},{east:.6f},{north:.6f}"


def test_cli_build_runs_on_the_scheduler_of_the_setting(
    demo_items_path: Path, cluster: DaskProcesses, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("L3A_DASK_SCHEDULER", cluster.address)
    monkeypatch.setenv("L3A_DATA_DIR", str(tmp_path / "data"))
    with Client(cluster.address, set_as_default=False) as client:
        before = sum(client.run(executed).values())
        code = main(["build", "--source", str(demo_items_path), "--bbox", demo_lonlat_bbox(),
                     "--period", DEMO_PERIOD, "--method", "median", "--bands", "red,nir",
                     "--resolution", "60", "--out", str(tmp_path / "product"), "--quiet"])
        after = sum(client.run(executed).values())
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "product" / "red.tif").is_file()
    assert after > before, "the build ran no task on the cluster's workers"


def test_cli_build_in_parts_on_the_cluster_into_a_relative_folder(
    demo_items_path: Path, cluster: DaskProcesses, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # The workers' working directory is not the client's: a relative --out (and the default
    # data directory, relative too) must reach them as the client's absolute folder.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("L3A_DASK_SCHEDULER", cluster.address)
    monkeypatch.setenv("L3A_DATA_DIR", "data")
    monkeypatch.setenv("L3A_PART_SIZE", "512")
    code = main(["build", "--source", str(demo_items_path), "--bbox", demo_lonlat_bbox(),
                 "--period", DEMO_PERIOD, "--method", "median", "--bands", "red,nir",
                 "--resolution", "10", "--cloud-mask", "scl", "--out", "product", "--quiet"])
    assert code == 0, capsys.readouterr().err
    product = tmp_path / "product"
    assert sorted(p.name for p in product.glob("red.*.tif")) == [
        "red.r0c0.tif", "red.r0c1.tif", "red.r1c0.tif", "red.r1c1.tif"]
    assert (product / "red.vrt").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
