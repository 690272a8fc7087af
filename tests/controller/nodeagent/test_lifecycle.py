"""Deletion, termination, sidecars, capacity and restarts of the agent."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from tiphys.controller.api import PODS, NODES, NotFound
from tiphys.controller.nodeagent import TERMINATE_ANNOTATION

from .conftest import Harness, pod, sh, statuses


def _host(tmp_path: Path) -> dict:
    """The test's tmp_path as a hostPath volume at /host (the host's /tmp is not the pod's)."""
    return {"volumes": [{"name": "host", "hostPath": {"path": str(tmp_path)}}]}


HOST_MOUNT = {"volumeMounts": [{"name": "host", "mountPath": "/host"}]}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _gone(h: Harness, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await h.api.get(PODS, name, namespace="default")
        except NotFound:
            return
        assert time.monotonic() < deadline, f"pod {name} was never deleted"
        await asyncio.sleep(0.02)


async def _pid_file(path: Path) -> int:
    for _ in range(1000):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never written")


async def test_deleting_a_running_pod_kills_it_then_deletes(harness, tmp_path):
    """deletionTimestamp on a running pod: its processes (children too) die, then the pod is deleted."""
    pidfile = tmp_path / "child.pid"
    async with harness() as h:
        await h.create(pod("victim", sh("main", "sleep 300 & echo $! > /host/child.pid; wait", **HOST_MOUNT),
                           **_host(tmp_path)))
        p = await h.wait_for("victim", lambda p: p["status"].get("phase") == "Running")
        leader = int(statuses(p)["main"]["containerID"].removeprefix("tiphys://"))
        child = await _pid_file(pidfile)
        assert _alive(leader) and _alive(child)
        marked = await h.api.delete(PODS, "victim", namespace="default")
        assert "deletionTimestamp" in marked["metadata"]  # bound and running: graceful
        await _gone(h, "victim")
        assert not _alive(leader) and not _alive(child)
        # the run deletes the pod, then cleans up (its /tmp, off the loop) and only then leaves
        # `runs`: a loaded machine caught it in between
        deadline = time.monotonic() + 15
        while h.agent.runs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert not h.agent.runs


async def test_terminate_annotation_sigterms_named_containers(harness):
    """The controller's terminate-containers annotation SIGTERMs only the named containers."""
    async with harness() as h:
        await h.create(pod("term", sh("main", "sleep 300"), sh("other", "sleep 1; echo done")))
        await h.wait_for("term", lambda p: p["status"].get("phase") == "Running")
        await h.api.patch(PODS, "term", {"metadata": {"annotations": {TERMINATE_ANNOTATION: "main"}}},
                          namespace="default")
        p = await h.finished("term")
        st = statuses(p)
        assert st["main"]["state"]["terminated"]["exitCode"] == 143  # killed by SIGTERM
        assert st["other"]["state"]["terminated"]["exitCode"] == 0
        assert p["status"]["phase"] == "Failed"  # kubelet: any non-zero exit fails a Never pod


async def test_argo_sidecars_are_stopped_when_main_ends(harness):
    """Containers named as template sidecars get SIGTERM once every other container has ended."""
    template = json.dumps({"name": "t", "container": {"image": "busybox"}, "sidecars": [{"name": "side"}]})
    async with harness() as h:
        side = sh("side", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.05; done")
        main = sh("main", "sleep 0.3; echo main done", env=[{"name": "ARGO_TEMPLATE", "value": template}])
        await h.create(pod("sc", main, side))
        p = await h.finished("sc")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("sc", "side").endswith("bye\n")


async def test_native_sidecar_runs_beside_main_and_is_stopped(harness):
    """An init container with restartPolicy Always starts, does not block main, and is stopped after."""
    async with harness() as h:
        vol = [{"name": "v", "emptyDir": {}}]
        mount = [{"name": "v", "mountPath": "/v"}]
        native = sh("proxy", "echo up > /v/up; exec sleep 300", restartPolicy="Always", volumeMounts=mount)
        main = sh("main", "while [ ! -f /v/up ]; do sleep 0.05; done; echo saw proxy", volumeMounts=mount)
        await h.create(pod("native", main, init=[native], volumes=vol))
        p = await h.finished("native")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("native", "main") == "saw proxy\n"
        proxy = statuses(p, "initContainerStatuses")["proxy"]["state"]["terminated"]
        assert proxy["exitCode"] == 143


async def test_max_pods_leaves_the_rest_unscheduled_until_a_slot_frees(harness, tmp_path):
    """With max_pods=1 a second pod stays unbound while the first runs, then runs."""
    gate = tmp_path / "gate"
    async with harness(max_pods=1) as h:
        await h.create(pod("first", sh("main", "while [ ! -f /host/gate ]; do sleep 0.05; done", **HOST_MOUNT),
                           **_host(tmp_path)))
        await h.wait_for("first", lambda p: p["status"].get("phase") == "Running")
        await h.create(pod("second", sh("main", "echo second")))
        await asyncio.sleep(0.5)
        second = await h.api.get(PODS, "second", namespace="default")
        assert not second["spec"].get("nodeName")
        gate.write_text("go")
        p = await h.finished("second")
        assert p["status"]["phase"] == "Succeeded" and p["spec"]["nodeName"] == "tiphys-local"


async def test_prebound_and_foreign_pods(harness):
    """Pods created on this node run without binding; other nodes' and other schedulers' pods are left alone."""
    async with harness() as h:
        await h.create(pod("mine", sh("main", "echo mine"), nodeName="tiphys-local"))
        await h.create(pod("theirs", sh("main", "echo theirs"), nodeName="elsewhere"))
        await h.create(pod("custom", sh("main", "echo custom"), schedulerName="volcano"))
        p = await h.finished("mine")
        assert p["status"]["phase"] == "Succeeded"
        await asyncio.sleep(0.3)
        for name in ("theirs", "custom"):
            other = await h.api.get(PODS, name, namespace="default")
            assert other["status"]["phase"] == "Pending" and "containerStatuses" not in other["status"]
            assert other["spec"].get("nodeName") != "tiphys-local"
        node = await h.api.get(NODES, "tiphys-local")
        assert node["status"]["conditions"][0]["type"] == "Ready"


async def test_restarted_agent_marks_lost_pods_failed(tmp_path):
    """A pod left Running by a stopped agent is reported Failed by the next one, with the reason."""
    first = Harness(tmp_path / "a")
    async with first:
        await first.create(pod("orphan", sh("main", "sleep 300")))
        await first.wait_for("orphan", lambda p: p["status"].get("phase") == "Running")
    second = Harness(tmp_path / "a")
    second.api = first.api
    from tiphys.controller.nodeagent import NodeAgent
    second.agent = NodeAgent(first.api, clock=first.clock, root_dir=tmp_path / "a")
    async with second:
        p = await second.finished("orphan")
        assert p["status"]["phase"] == "Failed"
        assert p["status"]["message"] == "node agent restarted: the pod's processes were lost"
        assert statuses(p)["main"]["state"]["terminated"]["exitCode"] == 137


async def test_stop_kills_running_processes(harness, tmp_path):
    """Stopping the agent leaves no process of its pods behind (`$$$$` is the shell's `$$`: Kubernetes
    unescapes `$$` in commands)."""
    pidfile = tmp_path / "pid"
    async with harness() as h:
        await h.create(pod("bye", sh("main", "echo $$$$ > /host/pid; exec sleep 300", **HOST_MOUNT), **_host(tmp_path)))
        pid = await _pid_file(pidfile)
        assert _alive(pid)
    deadline = time.monotonic() + 15  # a wait, not a speed limit: 2 s was tight on a loaded machine
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert not _alive(pid)


async def test_deleted_pod_directories_are_collected_logs_kept(harness):
    """Deleting a finished pod removes its emptyDir directories; its logs stay readable."""
    async with harness() as h:
        await h.create(pod("gc", sh("main", "echo kept > /scratch/f; echo log line",
                                    volumeMounts=[{"name": "s", "mountPath": "/scratch"}]),
                           volumes=[{"name": "s", "emptyDir": {}}]))
        p = await h.finished("gc")
        pod_dir = h.root / "pods" / p["metadata"]["uid"]
        assert (pod_dir / "volumes" / "s" / "f").read_text() == "kept\n"
        await h.api.delete(PODS, "gc", namespace="default")  # finished: deleted at once
        for _ in range(500):
            if not pod_dir.exists():
                break
            await asyncio.sleep(0.02)
        assert not pod_dir.exists()
        assert h.log("gc", "main") == "log line\n"


async def test_deletion_grace_period_escalates_to_sigkill(harness):
    """A process ignoring SIGTERM is SIGKILLed after the deletion's grace period, then the pod goes."""
    async with harness() as h:
        await h.create(pod("stubborn", sh("main", "trap '' TERM; echo trapped; while true; do sleep 0.05; done")))
        await h.wait_for("stubborn", lambda p: p["status"].get("phase") == "Running")
        log = h.agent.log_path("default", "stubborn", "main")
        for _ in range(400):  # Running means started, not that the shell has set its trap yet
            if log.exists() and "trapped" in log.read_text():
                break
            await asyncio.sleep(0.025)
        started = time.monotonic()
        await h.api.delete(PODS, "stubborn", namespace="default", grace_period_seconds=1)
        await _gone(h, "stubborn")
        assert 0.9 <= time.monotonic() - started < 15


async def test_concurrency_never_exceeds_max_pods(harness, tmp_path):
    """Twelve pods through max_pods=3: never more than three runs, or bound unfinished pods, at once."""
    # The pods hold until the test opens the gate, so three of them are running at once for sure:
    # with `sleep 0.1` a loaded machine could spawn the third after the first had ended, and the
    # peak of 3 depended on how fast processes started.
    gate = tmp_path / "gate"
    async with harness(max_pods=3) as h:
        peak_runs = peak_bound = 0
        done = asyncio.Event()

        async def monitor() -> None:
            nonlocal peak_runs, peak_bound
            while not done.is_set():
                peak_runs = max(peak_runs, len(h.agent.runs))
                pods = (await h.api.list(PODS, namespace="default")).items
                bound = [p for p in pods if p["spec"].get("nodeName")
                         and p["status"].get("phase") not in ("Succeeded", "Failed")]
                peak_bound = max(peak_bound, len(bound))
                await asyncio.sleep(0.005)

        watcher = asyncio.ensure_future(monitor())
        for i in range(12):
            await h.create(pod(f"q{i}", sh("main", "while [ ! -f /host/gate ]; do sleep 0.02; done", **HOST_MOUNT),
                               **_host(tmp_path)))
        deadline = time.monotonic() + 60
        while peak_runs < 3:  # whichever three the agent took first
            assert time.monotonic() < deadline, f"never three runs at once (peak {peak_runs})"
            await asyncio.sleep(0.02)
        gate.write_text("go")
        finished = [await h.finished(f"q{i}") for i in range(12)]
        done.set()
        await watcher
        assert all(p["status"]["phase"] == "Succeeded" for p in finished)
        assert peak_runs == 3 and peak_bound <= 3
