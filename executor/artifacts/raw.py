"""`raw` input artifacts: the template carries the content (`raw.data`)."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import ArtifactConfigError

__all__ = ["RawDriver"]


class RawDriver:
    def get(self, location: Mapping[str, Any], dest: Path, /) -> None:
        data = location.get("data")
        if not isinstance(data, str):
            raise ArtifactConfigError(f"raw.data must be a string, got {type(data).__name__}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(data)

    def put(self, src: Path, location: Mapping[str, Any], /) -> None:
        raise ArtifactConfigError("raw artifacts are input-only; they cannot be saved")
