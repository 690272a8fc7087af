"""The `azurite` fixture: one real Azurite blob service (`_azurite`) per session, imported by the
tests that use it (each test makes its own container)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import _azurite
from ._serverproc import serve_for_session

__all__ = ["azurite"]


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_azurite.Azurite]:
    yield from serve_for_session(_azurite.start, _azurite.Azurite.stop, tmp_path_factory.mktemp("azurite"),
                                 log_name="azurite.log", missing="no Azure Blob emulator")
