"""Executor fixtures: the compiled wrapper, per-test protocol paths (the real S3 server,
`s3_server`, is shared with the controller tests: s3_fixture.py, a plugin of tests/conftest.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tiphys.executor.paths import ExecutorPaths
from tiphys.executor.wrapper import WrapperBuild, build_wrapper_info


@pytest.fixture(scope="session")
def wrapper_build(tmp_path_factory: pytest.TempPathFactory) -> WrapperBuild:
    # no compiler at all: skip; a compile error in emissary.c still fails loudly
    if not shutil.which(os.environ.get("CC") or "cc"):
        pytest.skip("no C compiler (cc) to build the main-container wrapper")
    return build_wrapper_info(tmp_path_factory.mktemp("wrapper"))


@pytest.fixture(scope="session")
def wrapper(wrapper_build: WrapperBuild) -> Path:
    return wrapper_build.path


@pytest.fixture
def paths(tmp_path: Path) -> ExecutorPaths:
    p = ExecutorPaths(var_run=str(tmp_path / "var-run-argo"), staging=str(tmp_path / "staging"),
                      inputs=str(tmp_path / "inputs"), mainctrfs=str(tmp_path / "mainctrfs"),
                      config=str(tmp_path / "config"), secrets=str(tmp_path / "secrets"))
    Path(p.var_run).mkdir()
    return p


class Emissary:
    """Runs the wrapper like a pod's main container would, with the protocol env set."""

    def __init__(self, binary: Path, paths: ExecutorPaths) -> None:
        self.binary = binary
        self.paths = paths

    def env(self, template: Mapping[str, Any] | None, *, container: str = "main", include_output: bool = True,
            extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARGO_")}
        env.update(ARGO_VAR_RUN=self.paths.var_run, ARGO_CONTAINER_NAME=container,
                   ARGO_INCLUDE_SCRIPT_OUTPUT="true" if include_output else "false")
        if template is not None:
            env["ARGO_TEMPLATE"] = json.dumps(template)
        env.update(extra or {})
        return env

    def popen(self, cmd: list[str], template: Mapping[str, Any] | None = None, **kw: Any) -> subprocess.Popen[bytes]:
        env = self.env({} if template is None else template, **kw)
        return subprocess.Popen([str(self.binary), "--loglevel", "info", "--", *cmd], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, cmd: list[str], template: Mapping[str, Any] | None = None, *, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[bytes]:
        env = self.env({} if template is None else template, **kw)
        return subprocess.run([str(self.binary), "--", *cmd], env=env, capture_output=True, timeout=timeout, check=False)

    def exitcode(self, container: str = "main") -> str:
        return self.paths.exitcode(container).read_text()


@pytest.fixture
def emissary(wrapper: Path, paths: ExecutorPaths) -> Emissary:
    return Emissary(wrapper, paths)


PY = sys.executable
