"""One machine, one process: the embedded API, the controller engine and a kubelet, together.

`tiphys run` and the controller tests use this; in a cluster the same `Engine` runs against the
kube-apiserver and the cluster's kubelets instead.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.embedded import EmbeddedApi
from tiphys.controller.api.errors import Gone, NotFound
from tiphys.controller.clock import RealClock
from tiphys.controller.engine import Engine
from tiphys.core.plan.meta import PodSettings

__all__ = ["LocalSession", "wait_completed"]

COMPLETED = "workflows.argoproj.io/completed"


async def wait_completed(api: base.Api, name: str, namespace: str, *, timeout: float = 60.0,
                         on_change: Any = None) -> dict:
    """Follow a workflow by watch until it is labelled completed; returns its final state."""
    def completed(obj: dict) -> bool:
        return (obj["metadata"].get("labels") or {}).get(COMPLETED) == "true"

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
                 state_path: str | None = None, root_dir: str | None = None) -> None:
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

    async def __aenter__(self) -> "LocalSession":
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
