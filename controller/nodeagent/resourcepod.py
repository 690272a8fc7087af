"""Resource templates on the node agent: `argoexec resource <action>` run in-process.

A resource pod's main container runs the executor's `resource` command, which must talk to the
API server. A host process started by the agent has no way to reach an embedded API, so the agent
plays the container instead, as it plays the pod's API client for task results: when a main
container's command (after emissary's `--`) is the executor's `resource <action>`, the agent runs
`tiphys.executor.resource.run_resource` on its own event loop with `ApiKubeClient`, an adapter
from its `base.Api`. The command's task results go through the pod's relay directory like any
executor's; its log lines go to the container log; its failure message becomes the container's
termination message (`main: Error (exit code 64): ...` on the node, as under Argo); and its exit
code is written to `/var/run/argo/ctr/main/exitcode` for a `wait` container that archives logs.

Kinds are looked up in `executor.kube.kinds.BUILTIN` (the built-in kinds and Argo's CRDs),
then in the CustomResourceDefinitions the API holds (read once per command, only for a kind the
table lacks): `base.Api` has no discovery, but a CRD object says what discovery would (group,
served versions, plural, scope, short names). So a kind is known exactly when a cluster would
serve it -- also on the embedded store, once its CRD is created there. A strategic merge patch, which the embedded store refuses
(415) as a real server does for custom resources, is sent as a JSON merge patch for built-in
kinds -- the same result wherever no list with merge keys is patched.
"""
from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api import errors as api_errors
from tiphys.executor.resource import (ACTIONS, BUILTIN, FAILURE_EXIT_CODE, KindInfo, KindTable, KubeAlreadyExists,
                                      KubeConflict, KubeError, KubeNotFound, KubeUnsupportedMediaType, PatchKind,
                                      ResourceSettings, UnknownKind, run_resource)
from tiphys.executor.runtime import FileTaskResultSink
from .inprocess import InProcessTask, executor_argv, write_wait_files

__all__ = ["CUSTOM_RESOURCE_DEFINITIONS", "ApiKubeClient", "InProcessContainer", "host_path", "resource_action"]

_KNOWN = {r.key: r for r in (base.PODS, base.CONFIG_MAPS, base.SECRETS, base.PERSISTENT_VOLUME_CLAIMS, base.EVENTS,
                             base.LEASES, base.NODES, base.SERVICE_ACCOUNTS, base.NAMESPACES, base.WORKFLOWS,
                             base.WORKFLOW_TEMPLATES, base.CLUSTER_WORKFLOW_TEMPLATES, base.CRON_WORKFLOWS,
                             base.WORKFLOW_TASK_RESULTS, base.WORKFLOW_TASK_SETS, base.WORKFLOW_ARTIFACT_GC_TASKS)}
CUSTOM_RESOURCE_DEFINITIONS = base.Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                            "CustomResourceDefinition", namespaced=False)
_PATCH = {PatchKind.STRATEGIC: base.PatchType.STRATEGIC, PatchKind.MERGE: base.PatchType.MERGE,
          PatchKind.JSON: base.PatchType.JSON}


def resource_action(spec: Mapping[str, Any], /) -> str | None:
    """`<action>` when the container runs `[wrapper emissary --] <executor> resource <action>`."""
    argv = executor_argv(spec)
    if len(argv) >= 3 and argv[1] == "resource" and argv[2] in ACTIONS:
        return str(argv[2])
    return None


def _kube_error(exc: api_errors.ApiError) -> KubeError:
    cls = {api_errors.NotFound: KubeNotFound, api_errors.AlreadyExists: KubeAlreadyExists,
           api_errors.Conflict: KubeConflict, api_errors.UnsupportedMediaType: KubeUnsupportedMediaType}
    return cls.get(type(exc), KubeError)(exc.message, status=exc.status or 0, reason=exc.reason)


class ApiKubeClient:
    """`executor.resource.KubeClient` over a `base.Api`."""

    def __init__(self, api: base.Api, /, *, kinds: KindTable = BUILTIN) -> None:
        self._api, self._kinds = api, kinds
        self._custom: KindTable | None = None

    async def _crds(self) -> KindTable:
        if self._custom is None:
            try:
                items = (await self._api.list(CUSTOM_RESOURCE_DEFINITIONS)).items
            except api_errors.ApiError:
                items = []  # no right to read CRDs: the built-in table is all we know
            kinds = []
            for crd in items:
                spec = crd.get("spec") or {}
                names = spec.get("names") or {}
                if not (spec.get("group") and names.get("kind") and names.get("plural")):
                    continue
                kinds += [KindInfo(str(spec["group"]), str(v["name"]), str(names["kind"]), str(names["plural"]),
                                   spec.get("scope") != "Cluster", tuple(names.get("shortNames") or ()))
                          for v in spec.get("versions") or () if isinstance(v, dict) and v.get("name")
                          and v.get("served", True)]
            self._custom = KindTable(kinds)
        return self._custom

    async def kind_for_manifest(self, api_version: str, kind: str, /) -> KindInfo:
        try:
            return self._kinds.for_manifest(api_version, kind)
        except UnknownKind:
            return (await self._crds()).for_manifest(api_version, kind)

    async def kind_for_argument(self, text: str, /) -> KindInfo:
        try:
            return self._kinds.for_argument(text)
        except UnknownKind:
            return (await self._crds()).for_argument(text)

    @staticmethod
    def _resource(info: KindInfo) -> base.Resource:
        known = _KNOWN.get(f"{info.group}/{info.plural}")
        if known is not None and known.version == info.version:
            return known
        return base.Resource(info.group, info.version, info.plural, info.kind, info.namespaced,
                             unconditional_update=info.builtin)

    async def _call(self, coro: Any) -> Any:
        try:
            return await coro
        except api_errors.ApiError as exc:
            raise _kube_error(exc) from None

    async def get(self, kind: KindInfo, name: str, /, *, namespace: str | None) -> dict[str, Any]:
        return await self._call(self._api.get(self._resource(kind), name, namespace=namespace))

    async def list(self, kind: KindInfo, /, *, namespace: str | None,
                   label_selector: str | None = None) -> list[dict[str, Any]]:
        result = await self._call(self._api.list(self._resource(kind), namespace=namespace,
                                                 label_selector=label_selector))
        return result.items

    async def create(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]:
        return await self._call(self._api.create(self._resource(kind), body, namespace=namespace))

    async def update(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]:
        return await self._call(self._api.update(self._resource(kind), body, namespace=namespace))

    async def patch(self, kind: KindInfo, name: str, patch: Any, /, *, namespace: str | None,
                    patch_kind: PatchKind) -> dict[str, Any]:
        resource = self._resource(kind)
        try:
            return await self._call(self._api.patch(resource, name, patch, namespace=namespace,
                                                    patch_type=_PATCH[patch_kind]))
        except KubeUnsupportedMediaType:
            if patch_kind is not PatchKind.STRATEGIC or not kind.builtin:
                raise
        # the embedded store has no strategic merge: a merge patch says the same for maps and scalars
        return await self._call(self._api.patch(resource, name, patch, namespace=namespace,
                                                patch_type=base.PatchType.MERGE))

    async def delete(self, kind: KindInfo, name: str, /, *, namespace: str | None,
                     propagation: str | None = None, grace_period: int | None = None) -> None:
        await self._call(self._api.delete(self._resource(kind), name, namespace=namespace,
                                          propagation=base.Propagation(propagation or "Background"),
                                          grace_period_seconds=grace_period))


def host_path(path: str, mounts: Sequence[Mapping[str, Any]], volumes: Mapping[str, Path], /) -> Path | None:
    """Where container path `path` lies on the host, through the container's volume mounts."""
    p = PurePosixPath(path)
    best: tuple[int, Path] | None = None
    for m in mounts:
        mount = PurePosixPath(str(m.get("mountPath") or "/"))
        vol = volumes.get(str(m.get("name")))
        if vol is None or not (p == mount or mount in p.parents):
            continue
        base_dir = vol / str(m["subPath"]) if m.get("subPath") else vol
        rel = p.relative_to(mount)
        if best is None or len(mount.parts) > best[0]:
            best = (len(mount.parts), base_dir / rel if rel.parts else base_dir)
    return best[1] if best else None


class InProcessContainer(InProcessTask):
    """A resource container run as a task of the agent; `signal` stands in for the process's."""

    def __init__(self, pod: Mapping[str, Any], spec: Mapping[str, Any], action: str, env: Mapping[str, str], /, *,
                 api: base.Api, volumes: Mapping[str, Path], log_path: Path, task_result_dir: Path,
                 poll_interval: float | None) -> None:
        super().__init__()
        self._pod, self._spec, self._action, self._env = pod, spec, action, dict(env)
        self._api, self._volumes, self._log_path = api, volumes, log_path
        self._sink = FileTaskResultSink(task_result_dir)
        self._poll = poll_interval

    def _read_file(self, path: str) -> bytes:
        host = host_path(path, self._spec.get("volumeMounts") or (), self._volumes)
        if host is None:
            raise FileNotFoundError(f"{path} is on no volume of container {self._spec.get('name')}")
        return host.read_bytes()

    def _template(self) -> dict[str, Any]:
        raw = self._env.get("ARGO_TEMPLATE", "")
        if raw == "offloaded":
            raw = self._read_file("/argo/config/ARGO_TEMPLATE").decode()
        tmpl = json.loads(raw)
        if not isinstance(tmpl, dict):
            raise ValueError("ARGO_TEMPLATE is not a JSON object")
        return tmpl

    async def _run(self) -> tuple[int, str]:
        log = open(self._log_path, "a", buffering=1)

        def write(line: str) -> None:
            log.write(line + "\n")
        try:
            try:
                template = self._template()
                settings = ResourceSettings.from_env(self._env)
            except Exception as exc:  # noqa: BLE001 - any unreadable input is this container's failure
                self.message = f"resource: cannot read the template or settings: {exc}"
                write(self.message)
                return self._exit(FAILURE_EXIT_CODE)
            if self._poll is not None:
                settings = msgspec.structs.replace(settings, poll_interval=self._poll)
            try:
                outcome = await run_resource(template, self._action, ApiKubeClient(self._api), settings,
                                             sink=self._sink, read_file=self._read_file, log=write)
            except asyncio.CancelledError:
                write("resource: terminated")
                return self._exit(128 + signal.SIGTERM)
            self.message = outcome.message
            return self._exit(outcome.exit_code)
        finally:
            log.close()

    def _exit(self, code: int) -> tuple[int, str]:
        write_wait_files(self._volumes, self._spec, self._log_path, code)
        return code, ""
