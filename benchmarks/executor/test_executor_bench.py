"""Executor costs: the wrapper's per-container overhead and tee throughput, archive and safe
unpack of a tree of small files, and S3 transfer through our SigV4 client to a local versitygw.
Figures are informative (recorded for the end-of-session table); nothing here gates.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tiphys.executor.artifacts import Credentials, S3Client, make_tgz, safe_extract_tar
from tiphys.executor.wrapper import build_wrapper


def _wall(*fns: Callable[[Any], Any], setups: tuple[Callable[[], Any] | None, ...] | None = None,
          repeat: int = 3) -> list[float]:
    """Median wall-clock seconds, runs interleaved. The shared `measure` times this process's CPU,
    which misses what these benchmarks are about: child processes, disk and the network."""
    setups = setups or (None,) * len(fns)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            arg = setups[i]() if setups[i] is not None else None
            t0 = time.perf_counter()
            fn(arg)
            samples[i].append(time.perf_counter() - t0)
    return [statistics.median(x) for x in samples]


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wrapper(tmp_path_factory.mktemp("wrapper"))


def _env(var_run: Path, tee: bool) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ARGO_")}, "ARGO_VAR_RUN": str(var_run),
            "ARGO_TEMPLATE": "{}", "ARGO_INCLUDE_SCRIPT_OUTPUT": "true" if tee else "false"}


def test_wrapper_overhead(wrapper: Path, tmp_path: Path, record) -> None:
    """Starting `true` through the wrapper vs directly: the cost a pod pays once per container."""
    runs = 50
    env_plain, env_tee = _env(tmp_path / "a", False), _env(tmp_path / "b", True)

    def direct(_):
        for _ in range(runs):
            subprocess.run(["/bin/true"], check=True)

    def wrapped(env):
        for _ in range(runs):
            subprocess.run([str(wrapper), "--", "/bin/true"], env=env, check=True, stdout=subprocess.DEVNULL)
    d, w, t = _wall(direct, wrapped, wrapped, setups=(None, lambda: env_plain, lambda: env_tee), repeat=3)
    record("executor wrapper: run `true` directly", f"{d / runs * 1e3:.2f} ms")
    record("executor wrapper: through the wrapper (no tee)", f"{w / runs * 1e3:.2f} ms")
    record("executor wrapper: through the wrapper (tee stdout+combined)", f"{t / runs * 1e3:.2f} ms")


def test_wrapper_tee_throughput(wrapper: Path, tmp_path: Path, record) -> None:
    """256 MiB of stdout through the wrapper's tee into two files and a pipe."""
    mib = 256
    cmd = ["sh", "-c", f"head -c {mib}M /dev/zero"]

    def direct(_):
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def wrapped(_):
        subprocess.run([str(wrapper), "--", *cmd], env=_env(tmp_path, True), check=True, stdout=subprocess.DEVNULL)
    d, w = _wall(direct, wrapped, repeat=3)
    assert (tmp_path / "ctr" / "main" / "stdout").stat().st_size == mib << 20
    record("executor wrapper: tee throughput", f"{mib / w:.0f} MiB/s (direct pipe {mib / d:.0f} MiB/s)")


def test_archive_and_safe_unpack(tmp_path: Path, record) -> None:
    """tar+gzip of 2000 files of 1 KiB, then the checked extraction a consumer runs."""
    src = tmp_path / "tree"
    for i in range(2000):
        d = src / f"d{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_bytes(os.urandom(1024))
    tgz = tmp_path / "t.tgz"
    counter = iter(range(1000))
    pack, unpack = _wall(lambda _: make_tgz(src, tgz),
                           lambda _: safe_extract_tar(tgz, tmp_path / f"out{next(counter)}"), repeat=3)
    record("executor archive: make_tgz 2000 x 1 KiB", f"{pack * 1e3:.0f} ms")
    record("executor archive: safe_extract_tar 2000 x 1 KiB", f"{unpack * 1e3:.0f} ms")


def test_s3_transfer(tmp_path: Path, record) -> None:
    """PUT and GET of 64 MiB through the SigV4 client to versitygw on loopback."""
    from tests.executor import _s3server
    try:
        server = _s3server.start(tmp_path / "s3", tmp_path / "s3.log")
    except _s3server.Unavailable as exc:
        pytest.skip(f"no S3-compatible server: {exc}")
    try:
        client = S3Client(server.endpoint, secure=False,
                          credentials=Credentials(access_key=server.access_key, secret_key=server.secret_key))
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(bucket)
        mib = 64
        src = tmp_path / "blob"
        src.write_bytes(os.urandom(mib << 20))
        put, get = _wall(lambda _: client.put_file(bucket, "blob", src),
                           lambda _: client.get_file(bucket, "blob", tmp_path / "back"), repeat=3)
        assert (tmp_path / "back").stat().st_size == mib << 20
        record("executor s3: PUT 64 MiB (hash + upload)", f"{mib / put:.0f} MiB/s")
        record("executor s3: GET 64 MiB", f"{mib / get:.0f} MiB/s")
    finally:
        server.stop()
