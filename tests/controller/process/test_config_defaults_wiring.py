"""`workflowDefaults` and `artifactRepository` reach the reconciler from the controller ConfigMap,
and a change is taken hot (the next adopted workflow gets it)."""
from __future__ import annotations

import asyncio

from tiphys.controller.api import EmbeddedApi, base
from tiphys.controller.clock import RealClock
from tiphys.controller.main import ControllerProcess, Options

from .test_process import FAST, _until


async def test_defaults_and_repository_are_hot_reloaded_into_the_reconciler():
    store = EmbeddedApi()
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "workflow-controller-configmap", "namespace": "default"},
          "data": {"workflowDefaults": "spec:\n  activeDeadlineSeconds: 60\n",
                   "artifactRepository": "s3:\n  bucket: first\n"}}
    await store.create(base.CONFIG_MAPS, cm, namespace="default")
    proc = ControllerProcess(Options(**FAST, leader_elect=False), api=store, clock=RealClock())
    run = asyncio.ensure_future(proc.run())
    try:
        await _until(lambda: proc.readiness() == (True, "ready"))
        rec = proc.engine.reconciler
        assert rec.workflow_defaults == {"spec": {"activeDeadlineSeconds": 60}}
        assert rec.artifact_repository == {"s3": {"bucket": "first"}}
        assert rec.controller_namespace == proc.namespace
        live = await store.get(base.CONFIG_MAPS, "workflow-controller-configmap", namespace="default")
        live["data"]["artifactRepository"] = "s3:\n  bucket: second\n"
        del live["data"]["workflowDefaults"]
        await store.update(base.CONFIG_MAPS, live, namespace="default")
        await _until(lambda: rec.artifact_repository == {"s3": {"bucket": "second"}})
        assert rec.workflow_defaults is None
        text = proc.metrics.exposition().decode()
        assert 'key="workflowDefaults"' not in text and 'key="artifactRepository"' not in text  # not inert
    finally:
        proc.stop()
        assert await run == 0
