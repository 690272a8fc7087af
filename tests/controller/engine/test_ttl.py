"""ttlStrategy: a completed workflow is deleted when its time to live after finishedAt is up."""
from __future__ import annotations

import pytest

from tests.controller.engine.fakecluster import FakeCluster
from tiphys.controller.api import base
from tiphys.controller.simkubelet import SimOutcome


def workflow(ttl: dict, **spec) -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "ttl"},
            "spec": {"entrypoint": "main", "ttlStrategy": ttl, **spec, "templates": [
                {"name": "main", "container": {"image": "busybox", "command": ["echo", "hello world"]}}]}}


def fails(pod: dict, template: dict) -> SimOutcome:
    return SimOutcome(exit_code=1)


ARGO_EXAMPLE = {"secondsAfterCompletion": 10, "secondsAfterSuccess": 5, "secondsAfterFailure": 5}


@pytest.mark.parametrize("ttl, behaviour, lives", [
    pytest.param(ARGO_EXAMPLE, None, 5, id="gc-ttl-example-success"),
    pytest.param(ARGO_EXAMPLE, fails, 5, id="gc-ttl-example-failure"),
    pytest.param({"secondsAfterCompletion": 20, "secondsAfterFailure": 8}, None, 20, id="success-uses-completion"),
    pytest.param({"secondsAfterSuccess": 3, "secondsAfterCompletion": 12}, fails, 12, id="failure-uses-completion"),
])
async def test_deleted_after_its_time_to_live(ttl, behaviour, lives):
    async with FakeCluster(behaviour=behaviour) as c:
        await c.submit(workflow(ttl))
        await c.until(lambda: c.completed("ttl"))
        await c.advance(lives - 1.5)
        assert await c.workflow("ttl") is not None
        await c.advance(2.5)
        assert await c.workflow("ttl") is None
        # owner references take the pods and task results with it
        assert await c.names(base.PODS) == set()
        assert await c.names(base.WORKFLOW_TASK_RESULTS) == set()


async def test_an_error_matches_only_seconds_after_completion():
    """§5.14: an Errored workflow is not `Failed`: secondsAfterFailure does not apply to it."""
    async with FakeCluster() as c:
        wf = workflow({"secondsAfterFailure": 1})
        wf["spec"]["templates"][0] = {"name": "main", "plugin": {"hello": {}}}  # not supported: node Error
        await c.submit(wf)
        await c.until(lambda: c.completed("ttl"))
        assert (await c.workflow("ttl"))["status"]["phase"] == "Error"
        await c.advance(10)
        assert await c.workflow("ttl") is not None


async def test_no_strategy_keeps_the_workflow():
    async with FakeCluster() as c:
        await c.submit(workflow({}))
        await c.until(lambda: c.completed("ttl"))
        await c.advance(60)
        assert await c.workflow("ttl") is not None


async def test_a_restarted_controller_deletes_a_workflow_that_came_due_while_it_was_down():
    async with FakeCluster() as c:
        await c.submit(workflow({"secondsAfterCompletion": 30}))
        await c.until(lambda: c.completed("ttl"))
        await c.stop_controller()
        await c.advance(45)
        assert await c.workflow("ttl") is not None
        await c.start_controller()
        await c.advance(1)
        assert await c.workflow("ttl") is None


async def test_ttl_and_volume_claims_together():
    """A deleted workflow's PVC that volumeClaimGC kept (failed workflow) goes with it by owner reference."""
    async with FakeCluster(behaviour=fails) as c:
        wf = workflow({"secondsAfterFailure": 5}, volumeClaimTemplates=[
            {"metadata": {"name": "w"}, "spec": {"accessModes": ["ReadWriteOnce"]}}])
        await c.submit(wf)
        await c.until(lambda: c.completed("ttl"))
        assert await c.names(base.PERSISTENT_VOLUME_CLAIMS) == {"ttl-w"}
        await c.advance(6)
        assert await c.workflow("ttl") is None
        assert await c.names(base.PERSISTENT_VOLUME_CLAIMS) == set()
