"""The `s3_server` fixture: one real S3-compatible server (versitygw, `_s3server`) per session,
for every test that asks for it - the executor's artifact tests and the controller's end-to-end
artifact-repository test alike. Registered as a plugin in tests/conftest.py so that both folders
see the same fixture; each test makes its own bucket."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import _s3server
from ._serverproc import serve_for_session

__all__ = ["s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_s3server.S3Server]:
    yield from serve_for_session(_s3server.start, _s3server.S3Server.stop, tmp_path_factory.mktemp("s3"),
                                 log_name="versitygw.log", missing="no S3-compatible server")
