"""The `azurite` fixture: one real Azurite blob service (`_azurite`) per session, imported by the
tests that use it (each test makes its own container)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import _azurite

__all__ = ["azurite"]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_azurite.Azurite]:
    root = tmp_path_factory.mktemp("azurite")
    try:
        server = _azurite.start(root, root / "azurite.log")
    except _azurite.Unavailable as exc:
        pytest.skip(f"no Azure Blob emulator: {exc}")
    try:
        yield server
    finally:
        server.stop()
