"""One machine, one process: the embedded API, the controller engine and a kubelet, together.

`tiphys run` and the controller tests use this; in a cluster the same `Engine` runs against the
kube-apiserver and the cluster's kubelets instead.

With the node agent, the embedded default artifact repository is a directory under the node's
root (`TIPHYS_ARTIFACT_DIR`, the executor's default driver for key-only locations). Argo's
examples assume its quick-start install, whose `artifact-repositories` ConfigMap names the keys
`default-v1` (the namespace default) and `my-key` (`artifact-repository-ref.yaml`); with
`artifact_repositories=True` the session creates that ConfigMap, each key a key-only `s3`
location and so that same directory, unless one exists. `preload` objects (what `tiphys run -f`
loads) and that ConfigMap are created before the engine starts, so its informers list them
before any workflow is reconciled.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import AlreadyExists, Gone, NotFound
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.core.plan.artifact_gc import completion_gc_settled
from tiphys.core.plan.meta import PodSettings

__all__ = ["LocalSession", "wait_completed", "local_artifact_repositories", "ARTIFACT_REPOSITORY_KEYS"]

COMPLETED = "workflows.argoproj.io/completed"
ARTIFACT_REPOSITORY_KEYS = ("default-v1", "my-key")  # Argo's quick-start keys; the first is the default


def local_artifact_repositories(namespace: str, /) -> dict:
    """The `artifact-repositories` ConfigMap of a local run: Argo's quick-start keys, every one a
    key-only `s3` location (no endpoint, no bucket), which the executor stores in the local
    artifact directory under Argo's default key format `{{workflow.name}}/{{pod.name}}`."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "artifact-repositories", "namespace": namespace, "annotations": {
                "workflows.argoproj.io/default-artifact-repository": ARTIFACT_REPOSITORY_KEYS[0]}},
            "data": {key: "s3: {}\n" for key in ARTIFACT_REPOSITORY_KEYS}}


async def wait_completed(api: base.Api, name: str, namespace: str, *, timeout: float = 60.0,
                         on_change: Any = None, artifact_gc: bool = False) -> dict:
    """Follow a workflow by watch until it is labelled completed (with `artifact_gc`, also until
    its OnWorkflowCompletion artifact GC has run its course); returns its final state."""
    def completed(obj: dict) -> bool:
        return (obj["metadata"].get("labels") or {}).get(COMPLETED) == "true" and (
            not artifact_gc or completion_gc_settled(obj))

    async def follow() -> dict:
        while True:  # (re)start from a fresh read: the first time, and after 410 Gone
            listed = await api.list(base.WORKFLOWS, namespace=namespace, field_selector=f"metadata.name={name}")
            if not listed.items:
                raise NotFound(f"workflow {namespace}/{name} not found")
            obj = listed.items[0]
            if on_change is not None:
                on_change(obj)
            if completed(obj):
                return obj
            try:
                async with api.watch(base.WORKFLOWS, namespace=namespace, field_selector=f"metadata.name={name}",
                                     resource_version=listed.resource_version) as stream:
                    async for event in stream:
                        if event.type == base.EventType.BOOKMARK:
                            continue
                        obj = event.object
                        if on_change is not None:
                            on_change(obj)
                        if completed(obj):
                            return obj
            except Gone:
                continue
    return await asyncio.wait_for(follow(), timeout)


class LocalSession:
    def __init__(self, *, api: base.Api | None = None, kubelet: str = "sim", namespace: str = "default",
                 workers: int = 8, settings: PodSettings = PodSettings(), behaviour: Any = None,
                 state_path: str | None = None, root_dir: str | None = None,
                 preload: Sequence[tuple[base.Resource, dict]] = (), artifact_repositories: bool = False) -> None:
        self.clock = RealClock()
        # deep enough history and watch buffers that a burst of pod events (a 50k fan-out) does not
        # push the informers into relists
        self.api = api or EmbeddedApi(path=state_path, clock=self.clock, history_size=200_000, watch_buffer=200_000)
        self.namespace = namespace
        self._owned_root: str | None = None
        if kubelet == "agent":
            import tempfile

            if root_dir is None:
                # not under /tmp: every container gets a private /tmp, the node's files must stay visible
                root_dir = self._owned_root = tempfile.mkdtemp(prefix="tiphys-node-", dir="/var/tmp")
            # the embedded default artifact repository: a directory every pod of this node can reach
            settings = msgspec.structs.replace(settings, executor_env={
                **settings.executor_env, "TIPHYS_ARTIFACT_DIR": str(Path(root_dir) / "artifacts")})
        self.engine = Engine(self.api, clock=self.clock, workers=workers, settings=settings)
        self.kubelet_kind = kubelet
        self.behaviour = behaviour
        self.kubelet: Any = None
        self.root_dir = root_dir
        self._preload = list(preload)
        self._defaults = [(base.CONFIG_MAPS, local_artifact_repositories(namespace))] if artifact_repositories else []

    async def _create_preload(self) -> None:
        """Create the preloaded objects, replacing one of the same name (a persisted `state_path`
        holds the previous run's), then the defaults, keeping one that exists (the caller's own
        `artifact-repositories` among the preloaded, or the previous run's)."""
        for resource, body in self._preload:
            ns = ((body.get("metadata") or {}).get("namespace") or self.namespace) if resource.namespaced else None
            try:
                await self.api.create(resource, body, namespace=ns)
            except AlreadyExists:
                name = str((body.get("metadata") or {}).get("name") or "")
                current = await self.api.get(resource, name, namespace=ns)
                meta = {**(body.get("metadata") or {}), "resourceVersion": current["metadata"]["resourceVersion"]}
                await self.api.update(resource, {**body, "metadata": meta}, namespace=ns)
        for resource, body in self._defaults:
            try:
                await self.api.create(resource, body, namespace=body["metadata"]["namespace"])
            except AlreadyExists:
                pass

    async def __aenter__(self) -> "LocalSession":
        await self._create_preload()
        if self.kubelet_kind == "sim":
            from tiphys.controller.simkubelet import SimKubelet

            kwargs = {"behaviour": self.behaviour} if self.behaviour else {}
            self.kubelet = SimKubelet(self.api, clock=self.clock, **kwargs)
        elif self.kubelet_kind == "agent":
            from tiphys.controller.nodeagent.agent import NodeAgent

            self.kubelet = NodeAgent(self.api, clock=self.clock, root_dir=Path(self.root_dir))
        if self.kubelet is not None:
            await self.kubelet.start()
        await self.engine.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.engine.stop()
        if self.kubelet is not None:
            await self.kubelet.stop()
        if self._owned_root is not None:  # a node directory we made for this run only
            import shutil

            shutil.rmtree(self._owned_root, ignore_errors=True)

    async def submit(self, workflow: dict) -> dict:
        meta = dict(workflow.get("metadata") or {})
        ns = meta.get("namespace") or self.namespace
        meta["namespace"] = ns
        if not meta.get("name") and not meta.get("generateName"):
            meta["generateName"] = "workflow-"  # `argo submit` requires one; we name it instead
        body = {**workflow, "metadata": meta}
        return await self.api.create(base.WORKFLOWS, body, namespace=ns)

    async def run(self, workflow: dict, *, timeout: float = 60.0, on_change: Any = None) -> dict:
        created = await self.submit(workflow)
        meta = created["metadata"]
        return await wait_completed(self.api, meta["name"], meta["namespace"], timeout=timeout, on_change=on_change)
