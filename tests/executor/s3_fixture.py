"""The `s3_server` fixture: one real S3-compatible server (versitygw, `_s3server`) per session,
for every test that asks for it - the executor's artifact tests and the controller's end-to-end
artifact-repository test alike. Registered as a plugin in tests/conftest.py so that both folders
see the same fixture; each test makes its own bucket."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import _s3server

__all__ = ["s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_s3server.S3Server]:
    root = tmp_path_factory.mktemp("s3")
    try:
        server = _s3server.start(root, root / "versitygw.log")
    except _s3server.Unavailable as exc:
        pytest.skip(f"no S3-compatible server: {exc}")
    try:
        yield server
    finally:
        server.stop()
