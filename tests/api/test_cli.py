"""The ``l3a`` command line, run as users run it: a subprocess, exit codes, stderr."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rio_cogeo.cogeo import cog_validate

from catalog.demo import DEMO_BBOX, write_demo


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_demo(tmp_path_factory.mktemp("demo"), size_px=120)


def l3a(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "L3A_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


BBOX = ",".join(str(v) for v in DEMO_BBOX)


def test_build_writes_a_valid_product_with_a_progress_bar(small_demo: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "product"
    done = l3a("build", "--source", str(small_demo), "--bbox", BBOX, "--period", "2024-07",
               "--method", "synthesis", "--bands", "blue,green,red,nir", "--resolution", "60",
               "--out", str(out), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "100%" in done.stderr and "blocks" in done.stderr
    item = json.loads((out / "item.json").read_text())
    assert set(item["assets"]) == {"blue", "green", "red", "nir", "weight", "date", "flag",
                                   "count"}
    assert item["properties"]["l3a:method"] == "synthesis"
    assert len(item["properties"]["l3a:input_ids"]) == 12
    for key in item["assets"]:
        valid, errors, _ = cog_validate(str(out / f"{key}.tif"))
        assert valid, errors


def test_build_takes_a_cloud_mask_in_any_spelling_and_records_it(small_demo: Path,
                                                                  tmp_path: Path) -> None:
    out = tmp_path / "product"
    done = l3a("build", "--source", str(small_demo), "--bbox", BBOX, "--period", "2024-07",
               "--bands", "red", "--resolution", "60", "--cloud-mask", "SCL", "--quiet",
               "--out", str(out), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    parameters = json.loads((out / "item.json").read_text())["properties"]["l3a:parameters"]
    assert parameters["cloud_mask"] == "scl"


def test_verbose_build_says_what_it_read(small_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "product"
    done = l3a("build", "--source", str(small_demo), "--bbox", BBOX, "--period", "2024-07",
               "--bands", "red,nir", "--resolution", "60", "--cloud-mask", "scl", "--quiet",
               "--verbose", "--out", str(out), data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("l3a: reads:"))
    found = re.search(r"(?P<requests>\d+) requests \((?P<opens>\d+) opens, \d+ reopens, "
                      r"(?P<tiles>\d+) tiles, .*?(?P<bytes>\d+) compressed bytes", line)
    assert found is not None, line
    counts = {name: int(value) for name, value in found.groupdict().items()}
    # 12 scenes, each read for red, nir, SCL and AOT: every file opened, each tile decoded
    # once (the SCL's too, though the cloud-weight pass reads it before the reduction).
    files = 12 * 4
    assert counts["opens"] >= files
    assert counts["tiles"] >= files
    assert counts["requests"] >= counts["opens"] + counts["tiles"]
    assert counts["bytes"] > 0
    assert ", 0 tiles decoded again, 0 tiles spilled to disk and 0 read back" in line


def test_a_build_does_not_import_the_web_stack_nor_the_cluster_client() -> None:
    # What `l3a build` imports: the command line, the catalogue search and the engine. A
    # local build has no use for dask.distributed (a third of a second of import).
    code = ("import sys, json; import api.cli, api.jobs.orders, catalog.search, engine.pipeline; "
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    modules = set(json.loads(done.stdout))
    assert "engine.pipeline" in modules
    web = {"fastapi", "starlette", "uvicorn", "titiler", "rio_tiler", "sqlalchemy",
           "catalog.demo", "onnxruntime", "distributed"}
    assert not web & modules


def test_the_command_keeps_openblas_to_one_thread_unless_told() -> None:
    # OpenBLAS threads spin on a machine whose cores the build's own threads use (`api`).
    code = ("import ctypes, api.cli, engine.pipeline, numpy\n"
            "paths = {line.split()[-1] for line in open('/proc/self/maps') if 'openblas' in line}\n"
            "counts = []\n"
            "for path in sorted(paths):\n"
            "    lib = ctypes.CDLL(path)\n"
            "    for name in ('scipy_openblas_get_num_threads64_', "
            "'scipy_openblas_get_num_threads', 'openblas_get_num_threads'):\n"
            "        if hasattr(lib, name):\n"
            "            counts.append(getattr(lib, name)())\n"
            "print(counts)")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    for told, expected in ((None, 1), ("2", 2)):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env if told is None else env | {"OPENBLAS_NUM_THREADS": told},
                              timeout=120, check=True)
        counts = json.loads(done.stdout)
        assert counts and set(counts) == {expected}, (told, counts)


def test_a_local_synthesis_imports_neither_dask_nor_a_stac_client(small_demo: Path,
                                                                   tmp_path: Path) -> None:
    # A whole local build, the synthesis's cloud pass included, reads its blocks directly:
    # dask, and the xarray and pandas dask.array imports when installed, are a cluster's
    # graph (a quarter of a local build's start-up); pystac-client and requests are for STAC
    # APIs, and this source is a file.
    code = ("import sys, json; from api.cli import main; code = main(sys.argv[1:]); "
            "print(json.dumps([code, sorted(sys.modules)]))")
    done = subprocess.run(
        [sys.executable, "-c", code, "build", "--source", str(small_demo), "--bbox", BBOX,
         "--period", "2024-07", "--method", "synthesis", "--bands", "red,nir",
         "--resolution", "60", "--cloud-mask", "scl", "--out", str(tmp_path / "p"),
         "--quiet"],
        capture_output=True, text=True, timeout=300, check=True,
        env={**os.environ, "L3A_DATA_DIR": str(tmp_path / "data")})
    returned, modules = json.loads(done.stdout.splitlines()[-1])
    assert returned == 0 and (tmp_path / "p" / "weight.tif").is_file()
    assert not {"dask", "xarray", "pandas", "stackstac", "distributed", "pystac_client",
                "requests"} & set(modules)
    assert "engine.pipeline" in modules


def test_build_help_lists_the_cloud_mask_sources(tmp_path: Path) -> None:
    done = l3a("build", "--help", data_dir=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())  # argparse wraps lines where it likes
    assert "--cloud-mask" in text and "default: auto" in text
    assert "scl, maja, cnn, temporal, haze" in text


def test_search_lists_the_demo_items_as_json(small_demo: Path, tmp_path: Path) -> None:
    done = l3a("search", "--source", str(small_demo), "--bbox", BBOX, "--period", "2024-07",
               "--json", data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 12
    assert [r["datetime"] for r in rows] == sorted(r["datetime"] for r in rows)
    assert rows[0]["bands"]["red"]["offset"] == pytest.approx(-0.1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bbox", "2,43,1,44"], "--bbox"),
        (["--bbox", "a,b,c,d"], "--bbox"),
        # The service's limits hold here too (issue 15): half the world, a band half round
        # it (a value starting with '-' would be read as an option by argparse).
        (["--bbox", "0,-90,180,90"], "--bbox: covers 255,032,811 km²"),
        (["--bbox", "0,43.6,180,43.8"], "more than the 2,500 km²"),
        (["--period", "2023-01-01/2024-06-30"], "at most 366 days"),
        (["--period", "2024-13"], "period"),
        (["--period", "2020-01"], "no scene"),
        (["--bands", "red,ultraviolet"], "bands"),
        (["--method", "mean"], "invalid choice"),
        (["--cloud-mask", "fog"], "--cloud-mask"),
        (["--cloud-mask", "scl+maja"], "--cloud-mask"),
        (["--cloud-mask", ""], "--cloud-mask"),
        # An item file says its flavour only to the engine, which names the order's field.
        (["--cloud-mask", "maja"], "cloud_mask: maja masks are not in this source"),
        # The demo is Sen2Cor's: refused before any search.
        (["--source", "demo", "--cloud-mask", "maja+cnn"], "--cloud-mask: maja"),
        # The API's one validation (api.jobs.orders.normalize): what the demo lacks, a CRS that
        # is no grid in metres.
        (["--source", "demo", "--bands", "red,coastal"], "--bands: source 'demo' has no coastal"),
        (["--crs", "4326"], "--crs: EPSG:4326 is not a projected CRS in metres"),
    ],
)
def test_bad_arguments_end_with_one_line_and_exit_2(small_demo: Path, tmp_path: Path,
                                                     args: list[str], message: str) -> None:
    base = {"--source": str(small_demo), "--bbox": BBOX, "--period": "2024-07",
            "--resolution": "60", "--out": str(tmp_path / "p")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    done = l3a("build", *[part for pair in base.items() for part in pair], data_dir=tmp_path)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert message in last
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "p").exists()
