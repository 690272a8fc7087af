"""The applier: makes a plan's actions so. It decides nothing.

Pod creates run concurrently (bounded); AlreadyExists means a create we made before a crash and
is success (pod names are deterministic). Deletes tolerate NotFound. Events are best effort.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any, Sequence

from tiphys.controller.api import base
from tiphys.controller.api.errors import AlreadyExists, ApiError, NotFound
from tiphys.core.plan.actions import (CreatePod, CreatePVC, DeletePod, DeletePVC, DeleteTaskResults, EmitEvent,
                                      SignalPod)

__all__ = ["Applier"]

_log = logging.getLogger("tiphys.apply")


class Applier:
    def __init__(self, api: base.Api, /, *, concurrency: int = 64) -> None:
        self.api = api
        self.concurrency = concurrency
        self.pods_created = 0
        self.api_writes = 0

    async def apply(self, wf: dict, actions: Sequence[Any]) -> list[CreatePod]:
        """Apply the actions; returns the pod creates that failed (to be issued again), never raising
        for them: one lost create must not undo the others (AlreadyExists is success)."""
        if not actions:
            return []
        namespace = wf["metadata"].get("namespace")
        creates = [a for a in actions if isinstance(a, CreatePod)]
        failed: list[CreatePod] = []
        if creates:
            sem = asyncio.Semaphore(self.concurrency)

            async def one(action: CreatePod) -> None:
                async with sem:
                    try:
                        await self._create_pod(namespace, action)
                    except ApiError as exc:
                        _log.warning("creating pod %s failed, will retry: %r", action.pod["metadata"]["name"], exc)
                        failed.append(action)

            await asyncio.gather(*(one(a) for a in creates))
        for action in actions:
            if isinstance(action, CreatePod):
                continue
            try:
                await self._apply_one(wf, namespace, action)
            except NotFound:
                pass  # already gone: what we wanted
            except ApiError as exc:
                _log.warning("action %r on %s failed: %r", type(action).__name__, wf["metadata"]["name"], exc)
        return failed

    async def _create_pod(self, namespace: str, action: CreatePod) -> None:
        try:
            self.api_writes += 1
            await self.api.create(base.PODS, action.pod, namespace=namespace)
            self.pods_created += 1
        except AlreadyExists:
            pass

    async def _apply_one(self, wf: dict, namespace: str, action: Any) -> None:
        if isinstance(action, DeletePod):
            self.api_writes += 1
            pre = base.Preconditions(uid=action.uid) if action.uid else None
            await self.api.delete(base.PODS, action.name, namespace=namespace, preconditions=pre)
        elif isinstance(action, SignalPod):
            # the node agent and the kubelet act on this annotation: SIGTERM the named containers
            self.api_writes += 1
            await self.api.patch(base.PODS, action.name, {"metadata": {"annotations": {
                "workflows.argoproj.io/terminate-containers": ",".join(action.containers)}}}, namespace=namespace)
        elif isinstance(action, CreatePVC):
            self.api_writes += 1
            try:
                await self.api.create(base.PERSISTENT_VOLUME_CLAIMS, action.pvc, namespace=namespace)
            except AlreadyExists:
                pass
        elif isinstance(action, DeletePVC):
            self.api_writes += 1
            await self.api.delete(base.PERSISTENT_VOLUME_CLAIMS, action.name, namespace=namespace)
        elif isinstance(action, DeleteTaskResults):
            listed = await self.api.list(base.WORKFLOW_TASK_RESULTS, namespace=namespace,
                                         label_selector=f"workflows.argoproj.io/workflow={wf['metadata']['name']}")
            for item in listed.items:
                self.api_writes += 1
                try:
                    await self.api.delete(base.WORKFLOW_TASK_RESULTS, item["metadata"]["name"], namespace=namespace)
                except NotFound:
                    pass
        elif isinstance(action, EmitEvent):
            await self._event(wf, namespace, action)

    async def _event(self, wf: dict, namespace: str, action: EmitEvent) -> None:
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        meta = wf["metadata"]
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": f"{meta['name']}.", "namespace": namespace},
                 "involvedObject": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": meta["name"],
                                    "namespace": namespace, "uid": meta.get("uid", "")},
                 "reason": action.reason, "message": action.message, "type": action.event_type,
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                 "source": {"component": "workflow-controller"}, "reportingComponent": "workflow-controller"}
        self.api_writes += 1
        await self.api.create(base.EVENTS, event, namespace=namespace)
