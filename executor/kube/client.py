"""What the executor needs from an API server, as one small async protocol.

The `resource` command, the task-result sink and the agent never import a client library: the
entry point hands them an implementation --
`incluster.InClusterClient` inside a real pod (service-account token, discovery), or the node
agent's adapter over its own `Api` when the agent runs the pod in-process. Objects are plain
dicts. Failures are `errors.KubeError` subclasses (`KubeNotFound`, `KubeAlreadyExists`,
`KubeConflict`, `KubeUnsupportedMediaType`, `KubeGone`), mapped once from the HTTP status.

To follow objects rather than re-read them: `snapshot` lists with the collection's
resourceVersion, and `watch` streams the changes after it (`watch.WatchStream`; on `KubeGone`
the caller takes a new snapshot). `patch` and `update` reach a subresource by name
(`subresource="status"`: a Role may grant `workflowtasksets/status` and nothing else).
"""
from __future__ import annotations

import enum
from typing import Any, Protocol

from .kinds import KindInfo
from .watch import Snapshot, WatchStream

__all__ = ["KubeClient", "PatchKind"]


class PatchKind(enum.StrEnum):
    """`mergeStrategy` values, as kubectl's `patch --type`."""

    STRATEGIC = "strategic"
    MERGE = "merge"
    JSON = "json"


class KubeClient(Protocol):
    async def kind_for_manifest(self, api_version: str, kind: str, /) -> KindInfo:
        """The served resource of `apiVersion`/`kind`; `kinds.UnknownKind` if none."""
        ...

    async def kind_for_argument(self, text: str, /) -> KindInfo:
        """The resource a kubectl TYPE argument (`pods`, `po`, `jobs.batch`) names; `UnknownKind`."""
        ...

    async def get(self, kind: KindInfo, name: str, /, *, namespace: str | None) -> dict[str, Any]: ...

    async def list(self, kind: KindInfo, /, *, namespace: str | None,
                   label_selector: str | None = None) -> list[dict[str, Any]]: ...

    async def snapshot(self, kind: KindInfo, /, *, namespace: str | None, label_selector: str | None = None,
                       field_selector: str | None = None) -> Snapshot:
        """The matching objects and the collection's resourceVersion, to watch from."""
        ...

    def watch(self, kind: KindInfo, /, *, namespace: str | None, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None, timeout_seconds: int = 300,
              bookmarks: bool = True) -> WatchStream:
        """The changes after `resource_version` (None: the objects as they are, then their changes),
        across the server's `timeout_seconds` and broken connections; `KubeGone` when it is too old."""
        ...

    async def create(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]: ...

    async def update(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None,
                     subresource: str | None = None) -> dict[str, Any]: ...

    async def patch(self, kind: KindInfo, name: str, patch: Any, /, *, namespace: str | None,
                    patch_kind: PatchKind, subresource: str | None = None) -> dict[str, Any]: ...

    async def delete(self, kind: KindInfo, name: str, /, *, namespace: str | None,
                     propagation: str | None = None, grace_period: int | None = None) -> None: ...
