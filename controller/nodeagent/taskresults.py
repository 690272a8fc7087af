"""Relay the executor's task-result files into the API.

Without an API client inside the pod, tiphys' `wait` writes each WorkflowTaskResult as
`<dir>/<name>.json` (`executor.runtime.FileTaskResultSink`, atomic replace) into a per-pod
directory the agent names through `TIPHYS_TASK_RESULT_DIR`. The agent plays the pod's API client:
it creates the object, or replaces it when it exists, whenever the file changed. The pod's own
namespace always wins over what the file says, so a pod cannot write into another namespace.

The relay runs on the pod's task (on its wake-ups while an executor container runs, and once more
before an executor container is reported terminated), so the final result is in the API before
the pod's status says `wait` finished, as with Argo's executor.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.errors import AlreadyExists, ApiError, Conflict, NotFound

__all__ = ["TaskResultRelay"]

_log = logging.getLogger("tiphys.nodeagent")
_decoder = msgspec.json.Decoder()


class TaskResultRelay:
    def __init__(self, api: base.Api, directory: Path, namespace: str, /) -> None:
        self._api, self.directory, self._namespace = api, directory, namespace
        self._seen: dict[str, tuple[int, int]] = {}  # file name -> (mtime_ns, size) last relayed
        self.relayed = 0

    async def sync(self) -> None:
        """Push every result file that changed since the last sync. API refusals are logged and
        retried at the next sync; a file that is not a JSON object is skipped with a warning."""
        try:
            entries = sorted(p for p in self.directory.iterdir() if p.suffix == ".json" and not p.name.startswith("."))
        except FileNotFoundError:
            return
        for path in entries:
            try:
                st = path.stat()
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            mark = (st.st_mtime_ns, st.st_size)
            if self._seen.get(path.name) == mark:
                continue
            try:
                obj = _decoder.decode(data)
            except msgspec.DecodeError as exc:
                _log.warning("task result %s is not valid JSON: %s", path, exc)
                self._seen[path.name] = mark
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
                _log.warning("task result %s is not an object with metadata.name", path)
                self._seen[path.name] = mark
                continue
            try:
                await self._write(obj)
            except ApiError as exc:
                _log.warning("task result %s: %r (retrying at the next sync)", path, exc)
                continue
            self._seen[path.name] = mark
            self.relayed += 1

    async def _write(self, obj: dict[str, Any]) -> None:
        obj["metadata"]["namespace"] = self._namespace
        obj["metadata"].pop("resourceVersion", None)
        name = obj["metadata"]["name"]
        try:
            await self._api.create(base.WORKFLOW_TASK_RESULTS, obj, namespace=self._namespace)
            return
        except AlreadyExists:
            pass
        for _ in range(5):
            try:
                live = await self._api.get(base.WORKFLOW_TASK_RESULTS, name, namespace=self._namespace)
            except NotFound:
                await self._api.create(base.WORKFLOW_TASK_RESULTS, obj, namespace=self._namespace)
                return
            body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": live["metadata"]["resourceVersion"]}}
            try:
                await self._api.update(base.WORKFLOW_TASK_RESULTS, body, namespace=self._namespace)
                return
            except Conflict:
                continue  # someone wrote in between: read again
        raise Conflict(f"workflowtaskresults {name!r}: kept conflicting")
