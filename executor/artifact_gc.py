"""`artifact-gc`: the artifact GC pod's command (Argo's `argoexec artifact-gc`).

The controller (`tiphys.core.plan.artifact_gc`) made WorkflowArtifactGCTask objects labelled
`workflows.argoproj.io/artifact-gc-pod=<this pod's name>`, each listing artifacts by node with the
node's `archiveLocation`. This command lists them, deletes every artifact through its driver
(key-only locations complete from the archive location, else the local default repository, as on
save) and writes each task's `status.artifactResultsByNode{nodeID: {artifactResults{name:
{name, success, error}}}}` through the status subresource -- the only writes Argo's `artifactgc`
Role allows. A failed delete is reported in its result, not by the exit code: the controller turns
it into the workflow's `ArtifactGCError` condition. The exit code is non-zero only when the tasks
could not be read or a result could not be written.

A task whose every artifact already has a result (the pod run again) is left as it is.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from ._errors import ArtifactConfigError, ExecutorError
from .artifacts import (KEY_FIELDS, ArtifactoryDriver, ArtifactRepository, AzureDriver, GitDriver, HTTPDriver,
                        LocalDriver, RawDriver, S3Driver, location_of)
from .kube import KindInfo, KubeClient, PatchKind

__all__ = ["GCSettings", "GCTaskApi", "KubeGCTaskApi", "drivers_for", "run_artifact_gc", "POD_LABEL"]

POD_LABEL = "workflows.argoproj.io/artifact-gc-pod"
_TASKS = KindInfo("argoproj.io", "v1alpha1", "WorkflowArtifactGCTask", "workflowartifactgctasks", True, ("wfat",))


class GCSettings(msgspec.Struct, frozen=True, kw_only=True):
    pod_name: str
    namespace: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> "GCSettings":
        for var in ("ARGO_POD_NAME", "ARGO_NAMESPACE"):
            if not env.get(var):
                raise ArtifactConfigError(f"artifact-gc: environment variable {var} is not set (the pod's "
                                          "downward API gives it)")
        return cls(pod_name=env["ARGO_POD_NAME"], namespace=env["ARGO_NAMESPACE"])


class GCTaskApi(Protocol):
    async def list_tasks(self) -> list[dict[str, Any]]:
        """This pod's WorkflowArtifactGCTasks."""
        ...

    async def patch_status(self, name: str, status: dict[str, Any], /) -> None: ...


class KubeGCTaskApi:
    """`GCTaskApi` over the executor's `KubeClient` (the in-cluster client in a real pod)."""

    def __init__(self, client: KubeClient, settings: GCSettings, /) -> None:
        self._client, self._settings = client, settings

    async def list_tasks(self) -> list[dict[str, Any]]:
        return await self._client.list(_TASKS, namespace=self._settings.namespace,
                                       label_selector=f"{POD_LABEL}={self._settings.pod_name}")

    async def patch_status(self, name: str, status: dict[str, Any], /) -> None:
        await self._client.patch(_TASKS, name, {"status": status}, namespace=self._settings.namespace,
                                 patch_kind=PatchKind.MERGE, subresource="status")


class Deleter(Protocol):
    def delete(self, location: Mapping[str, Any], /) -> None: ...


def drivers_for(secrets: Callable[[str, str], str], env: Mapping[str, str], /) -> tuple[dict[str, Any], Any]:
    """Every driver and the local default (TIPHYS_ARTIFACT_DIR), as the other commands build them."""
    local = env.get("TIPHYS_ARTIFACT_DIR")
    drivers = {"s3": S3Driver(secrets=secrets, env=env), "http": HTTPDriver(secrets=secrets),
               "artifactory": ArtifactoryDriver(secrets=secrets), "git": GitDriver(secrets=secrets),
               "raw": RawDriver(), "azure": AzureDriver(secrets=secrets)}
    return drivers, (LocalDriver(local) if local else None)


def _resolve(artifact: Mapping[str, Any], archive: Mapping[str, Any], drivers: Mapping[str, Any],
             default: Any) -> tuple[Deleter, dict[str, Any]]:
    found = location_of(artifact)
    if found is None:
        raise ArtifactConfigError("the artifact names no location", artifact=artifact.get("name"))
    typ = found[0]
    if typ not in KEY_FIELDS and not callable(getattr(drivers.get(typ), "delete", None)):
        raise ArtifactConfigError(f"deleting {typ} artifacts is not supported", artifact=artifact.get("name"))
    # key-only locations complete as on save: the archive location's server (of its type, as
    # Argo's Relocate), else the local default repository
    driver, loc = ArtifactRepository(drivers=drivers, default=default, archive_location=archive or None).resolve(artifact)
    if not callable(getattr(driver, "delete", None)):
        raise ArtifactConfigError(f"deleting {typ} artifacts is not supported", artifact=artifact.get("name"))
    return driver, loc


async def _delete_one(artifact: Mapping[str, Any], archive: Mapping[str, Any], drivers: Mapping[str, Any],
                      default: Any) -> str | None:
    """None when deleted, else the error text."""
    try:
        driver, loc = _resolve(artifact, archive, drivers, default)
        await asyncio.to_thread(driver.delete, loc)
    except ExecutorError as exc:
        return str(exc)
    except OSError as exc:  # a local repository that cannot be written, a connection refused
        return f"{type(exc).__name__}: {exc}"
    return None


async def run_artifact_gc(api: GCTaskApi, /, *, drivers: Mapping[str, Any], default: Any,
                          log: Callable[[str], None]) -> int:
    """Delete the artifacts of this pod's tasks and report per artifact; the exit code."""
    try:
        tasks = await api.list_tasks()
    except Exception as exc:  # noqa: BLE001 - any client failure ends the pod: the controller reports it
        log(f"artifact-gc: cannot list the WorkflowArtifactGCTasks: {exc}")
        return 1
    code = 0
    for task in sorted(tasks, key=lambda t: t["metadata"]["name"]):
        name = task["metadata"]["name"]
        have = (task.get("status") or {}).get("artifactResultsByNode") or {}
        results: dict[str, Any] = {}
        for node_id, entry in sorted(((task.get("spec") or {}).get("artifactsByNode") or {}).items()):
            archive = entry.get("archiveLocation") or {}
            done = (have.get(node_id) or {}).get("artifactResults") or {}
            for art_name, artifact in sorted((entry.get("artifacts") or {}).items()):
                if art_name in done:
                    continue
                error = await _delete_one({**artifact, "name": art_name}, archive, drivers, default)
                result: dict[str, Any] = {"name": art_name, "success": error is None}
                if error is not None:
                    result["error"] = error
                    log(f"artifact-gc: {name}: node {node_id} artifact {art_name}: {error}")
                else:
                    log(f"artifact-gc: {name}: node {node_id} artifact {art_name} deleted")
                results.setdefault(node_id, {"artifactResults": {}})["artifactResults"][art_name] = result
        if not results:
            continue
        try:
            await api.patch_status(name, {"artifactResultsByNode": results})
        except Exception as exc:  # noqa: BLE001 - reported; the other tasks still get theirs
            log(f"artifact-gc: cannot write the results of {name}: {exc}")
            code = 1
    return code
