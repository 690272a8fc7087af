"""Template `timeout`: the pod's deadline, and a node still Pending past it failed by the controller."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.controller.engine.fakecluster import NS, FakeCluster
from tiphys.controller.api import base
from tiphys.controller.simkubelet import SimOutcome


def workflow(timeout: str = "30s", **extra) -> dict:
    leaf = {"name": "sleep", "timeout": "{{inputs.parameters.t}}", "inputs": {"parameters": [{"name": "t"}]},
            "container": {"image": "alpine", "command": ["sleep", "60"]}}
    leaf.update(extra)
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "tmo"},
            "spec": {"entrypoint": "main", "templates": [
                {"name": "main", "steps": [[{"name": "s", "template": "sleep",
                                             "arguments": {"parameters": [{"name": "t", "value": timeout}]}}]]},
                leaf]}}


def env_of(pod: dict, container: str, name: str) -> str:
    ctr = next(c for c in pod["spec"]["containers"] + pod["spec"]["initContainers"] if c["name"] == container)
    return next(e["value"] for e in ctr["env"] if e["name"] == name)


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_pending_past_the_timeout_fails_with_argos_text_and_deletes_the_pod():
    """A pod that never starts: its node is Failed `timeout` at startedAt + timeout (not before) and
    the pod is deleted; the workflow fails."""
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.submit(workflow("30s"))
        await c.until(lambda: _pods(c, 1))
        [pod] = await c.objects(base.PODS)
        node = (await c.nodes("tmo"))["tmo[0].s"]
        started = ts(node.started_at)
        # the pod carries the same deadline: ARGO_DEADLINE and activeDeadlineSeconds
        assert ts(env_of(pod, "main", "ARGO_DEADLINE")) == started + 30
        assert 29 <= pod["spec"]["activeDeadlineSeconds"] <= 30
        await c.advance(started + 29 - c.clock.now())
        assert (await c.nodes("tmo"))["tmo[0].s"].phase == "Pending"
        await c.until(lambda: c.completed("tmo"))
        nodes = await c.nodes("tmo")
        assert (nodes["tmo[0].s"].phase, nodes["tmo[0].s"].message) == ("Failed", "timeout")
        assert ts(nodes["tmo[0].s"].finished_at) >= started + 30
        assert (await c.workflow("tmo"))["status"]["phase"] == "Failed"
        assert await c.names(base.PODS) == set()


async def _pods(c: FakeCluster, n: int) -> bool:
    return len(await c.names(base.PODS)) >= n


async def test_a_running_pod_is_left_to_its_active_deadline():
    """Past the timeout a Running node is not failed by the controller: the kubelet enforces the
    pod's activeDeadlineSeconds (Argo checks only Pending nodes)."""
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.submit(workflow("10s"))
        await c.until(lambda: _pods(c, 1))
        [pod] = await c.objects(base.PODS)
        now = datetime.fromtimestamp(c.clock.now(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        await c.api.patch(base.PODS, pod["metadata"]["name"], {"status": {
            "phase": "Running", "startTime": now,
            "containerStatuses": [{"name": "main", "ready": True, "restartCount": 0, "image": "alpine",
                                   "state": {"running": {"startedAt": now}}},
                                  {"name": "wait", "ready": True, "restartCount": 0, "image": "x",
                                   "state": {"running": {"startedAt": now}}}]}},
            namespace=NS, subresource="status")
        await c.advance(30)
        assert (await c.nodes("tmo"))["tmo[0].s"].phase == "Running"
        assert await c.names(base.PODS) == {pod["metadata"]["name"]}


async def test_an_invalid_timeout_errors_the_node():
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.submit(workflow("soon"))
        await c.until(lambda: c.completed("tmo"))
        node = (await c.nodes("tmo"))["tmo[0].s"]
        assert node.phase == "Error"
        assert node.message.startswith("invalid timeout format. ")
        assert await c.names(base.PODS) == set()


async def test_retried_attempts_share_one_deadline_from_the_retry_node():
    """Argo gives every attempt of a retried template the deadline of the Retry node's start."""
    async with FakeCluster(behaviour=lambda pod, tmpl: SimOutcome(exit_code=1)) as c:
        await c.submit(workflow("40s", retryStrategy={"limit": 1}))
        await c.until(lambda: c.completed("tmo"))
        nodes = await c.nodes("tmo")
        retry = nodes["tmo[0].s"]
        assert retry.type_ == "Retry" and retry.phase == "Failed"
        deadlines = set()
        for pod_name in (await c.names(base.PODS)):
            pod = await c.api.get(base.PODS, pod_name, namespace=NS)
            deadlines.add(env_of(pod, "main", "ARGO_DEADLINE"))
        assert len(deadlines) == 1 and ts(deadlines.pop()) == ts(retry.started_at) + 40


async def test_exit_handler_pods_ignore_the_workflow_deadline_but_not_their_timeout():
    """§5.6: exit-handler pods get no workflow deadline; their own template timeout still applies."""
    wf = workflow("30s")
    wf["spec"]["activeDeadlineSeconds"] = 5
    wf["spec"]["onExit"] = "bye"
    wf["spec"]["templates"].append({"name": "bye", "container": {"image": "alpine", "command": ["true"]}})
    async with FakeCluster() as c:
        await c.submit(wf)
        await c.until(lambda: c.completed("tmo"))
        pods = {p["metadata"]["annotations"]["workflows.argoproj.io/node-name"]: p
                for p in await c.objects(base.PODS)}
        assert env_of(pods["tmo[0].s"], "main", "ARGO_DEADLINE") != "0001-01-01T00:00:00Z"
        assert env_of(pods["tmo.onExit"], "main", "ARGO_DEADLINE") == "0001-01-01T00:00:00Z"
        assert "activeDeadlineSeconds" not in pods["tmo.onExit"]["spec"]


async def test_the_timeout_survives_a_controller_restart():
    """A new controller rebuilds the deadline from the node's startedAt (not its own start)."""
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.submit(workflow("30s"))
        await c.until(lambda: _pods(c, 1))
        await c.advance(2)
        started = ts((await c.nodes("tmo"))["tmo[0].s"].started_at)
        await c.stop_controller()
        await c.advance(10)
        await c.start_controller()
        await c.until(lambda: c.completed("tmo"))
        node = (await c.nodes("tmo"))["tmo[0].s"]
        assert (node.phase, node.message) == ("Failed", "timeout")
        assert started + 30 <= ts(node.finished_at) <= started + 31
        assert await c.names(base.PODS) == set()


async def test_pending_timeout_bounds_only_the_time_in_pending():
    """`pendingTimeout` (v4.1) fails a node still Pending past it, but does not reach the pod's deadline."""
    wf = workflow("10m", pendingTimeout="20s")
    async with FakeCluster(hold=lambda pod: True) as c:
        await c.submit(wf)
        await c.until(lambda: _pods(c, 1))
        [pod] = await c.objects(base.PODS)
        started = ts((await c.nodes("tmo"))["tmo[0].s"].started_at)
        assert ts(env_of(pod, "main", "ARGO_DEADLINE")) == started + 600
        await c.until(lambda: c.completed("tmo"))
        node = (await c.nodes("tmo"))["tmo[0].s"]
        assert (node.phase, node.message) == ("Failed", "timeout")
        assert started + 20 <= ts(node.finished_at) <= started + 21
