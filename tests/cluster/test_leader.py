"""Two `tiphys-controller` processes against the real kube-apiserver: one leads; kill -9 it and the
other takes the Lease over; a workflow submitted meanwhile finishes with no duplicate pod.

The test cluster has no kubelet, so the test process runs the simulated kubelet (`SimKubelet`)
over `HttpApi` in this namespace to move the pods along.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from tiphys.controller.api import LEASES, PODS, WORKFLOWS, NotFound
from tiphys.controller.api.http import HttpApi
from tiphys.controller.clock import RealClock
from tiphys.controller.local import wait_completed
from tiphys.controller.simkubelet import SimKubelet

from ._control_plane import ControlPlane

pytestmark = pytest.mark.cluster

WF = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "metadata": {"name": "handover"},
      "spec": {"entrypoint": "main", "templates": [
          {"name": "main", "steps": [[{"name": "a", "template": "echo"}, {"name": "b", "template": "echo"}],
                                     [{"name": "c", "template": "echo"}]]},
          {"name": "echo", "container": {"image": "busybox", "command": ["echo", "hi"]}}]}}


class BindingSimKubelet(SimKubelet):
    """The simulated kubelet, binding each pod through `pods/binding` first as a scheduler would:
    a real apiserver refuses the `spec.nodeName` patch the embedded store accepts."""

    def __init__(self, api, rest, **kwargs) -> None:
        super().__init__(api, **kwargs)
        self.rest = rest

    async def _run(self, pod: dict, outcome=None) -> None:
        meta = pod["metadata"]
        if not (pod.get("spec") or {}).get("nodeName"):
            binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                       "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
            await asyncio.to_thread(self.rest.post, f"/api/v1/namespaces/{meta['namespace']}/pods/"
                                                    f"{meta['name']}/binding", binding)
            pod = {**pod, "spec": {**pod["spec"], "nodeName": self.node_name}}
        await super()._run(pod, outcome)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    """One `python -m tiphys.controller.main` child with short lease timings."""

    def __init__(self, cluster: ControlPlane, namespace: str, identity: str, logs: Path, *,
                 extra: tuple[str, ...] = ()) -> None:
        self.identity = identity
        self.health, self.metrics = free_port(), free_port()
        self.log_path = logs / f"{identity}.log"
        argv = [sys.executable, "-m", "tiphys.controller.main", "--kubeconfig", str(cluster.kubeconfig),
                "--namespace", namespace, "--lease-namespace", namespace,
                "--configmap", f"{namespace}/workflow-controller-configmap",
                "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s",
                "--identity", identity, "--health-port", str(self.health), "--metrics-port", str(self.metrics),
                "--bind-address", "127.0.0.1", "--workflow-workers", "4", "--status-interval", "0.2s",
                "--log-format", "json", *extra]
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        try:
            async with aiohttp.ClientSession() as s, s.get(
                    f"http://127.0.0.1:{port or self.health}{path}", timeout=aiohttp.ClientTimeout(total=2)) as r:
                return r.status, await r.text()
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return 0, ""

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


async def until(predicate, what: str, timeout: float = 30.0, *procs: Controller):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.identity}\n{p.log()[-3000:]}" for p in procs)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        await asyncio.sleep(0.2)


def test_kill_9_of_the_leader_hands_over_without_duplicate_pods(cluster: ControlPlane, cluster_namespace: str,
                                                                tmp_path: Path) -> None:
    ns = cluster_namespace
    c1 = Controller(cluster, ns, "c1", tmp_path)
    c2 = Controller(cluster, ns, "c2", tmp_path)
    procs = (c1, c2)

    async def main() -> None:
        api = HttpApi.from_kubeconfig(cluster.kubeconfig)
        kubelet = BindingSimKubelet(api, cluster.rest(), clock=RealClock(), namespace=ns)
        try:
            async def holder() -> str:
                try:
                    lease = await api.get(LEASES, "workflow-controller", namespace=ns)
                except NotFound:
                    return ""
                return lease["spec"].get("holderIdentity") or ""

            # waits for outcomes, generous: two Python processes start on a shared, loaded machine
            first = await until(holder, "a leader", 120, *procs)
            leader, standby = (c1, c2) if first == "c1" else (c2, c1)
            assert await until(lambda: _ready(leader, "leading"), "leader ready", 60, *procs)
            assert await until(lambda: _ready(standby, "standing by"), "standby ready", 60, *procs)
            _, text = await leader.get("/metrics", leader.metrics)
            assert "argo_workflows_is_leader 1.0" in text
            _, text = await standby.get("/metrics", standby.metrics)
            assert "argo_workflows_is_leader 0.0" in text
            lease = await api.get(LEASES, "workflow-controller", namespace=ns)
            transitions = lease["spec"].get("leaseTransitions", 0)

            leader.proc.send_signal(signal.SIGKILL)
            leader.proc.wait()
            killed_at = time.monotonic()
            # the dead leader's last renewal (one still in flight would only land later)
            last_renew = (await api.get(LEASES, "workflow-controller", namespace=ns))["spec"]["renewTime"]
            await api.create(WORKFLOWS, WF, namespace=ns)  # submitted while nobody leads
            await kubelet.start()

            async def taken_over() -> bool:
                return await holder() == standby.identity

            await until(taken_over, "the standby to take the Lease", 60, *procs)
            took = time.monotonic() - killed_at
            print(f"lease taken over {took:.2f} s after kill -9 (lease 4 s, retry 1 s)")
            try:
                done = await wait_completed(api, "handover", ns, timeout=120)
            except asyncio.TimeoutError:
                wf = await api.get(WORKFLOWS, "handover", namespace=ns)
                pods = (await api.list(PODS, namespace=ns)).items
                raise AssertionError(f"workflow not finished: {wf.get('status')}\npods: "
                                     f"{[(p['metadata']['name'], p.get('status', {}).get('phase')) for p in pods]}"
                                     f"\n{standby.log()[-4000:]}") from None
            assert done["status"]["phase"] == "Succeeded", done["status"]
            lease = await api.get(LEASES, "workflow-controller", namespace=ns)
            assert lease["spec"]["leaseTransitions"] == transitions + 1
            assert lease["spec"]["holderIdentity"] == standby.identity
            pods = (await api.list(PODS, namespace=ns,
                                   label_selector="workflows.argoproj.io/workflow=handover")).items
            node_ids = [p["metadata"]["annotations"].get("workflows.argoproj.io/node-id")
                        or p["metadata"]["name"] for p in pods]
            assert len(pods) == 3 and len(set(node_ids)) == 3, [p["metadata"]["name"] for p in pods]
            # The standby waited for the lease to run out: 4 s by its clock from when it saw the last
            # renewal. Its acquireTime against that renewTime, not against the kill: how long before
            # the kill the leader last renewed (up to a retry period, more when its renewals ran
            # late) and how late the standby polled depend on the machine's load, so a lawful
            # takeover could come under 2 s after the kill. The renewal is stamped before its
            # write, the standby's sighting before its read: the 1 s allowance is that read's latency.
            acquired = lease["spec"]["acquireTime"]
            waited = _micro_time(acquired) - _micro_time(last_renew)
            assert waited >= 3.0, (last_renew, acquired)
            assert '"successfully acquired lease"' in standby.log()
        finally:
            await kubelet.stop()
            await api.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 480))
        survivor = c2 if c1.proc.returncode == -signal.SIGKILL else c1
        assert survivor.stop() == 0, survivor.log()[-3000:]
        assert '"released leader lease"' in survivor.log()
    finally:
        for c in procs:
            c.stop()


def _micro_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


async def _ready(controller: Controller, state: str) -> bool:
    status, body = await controller.get("/readyz")
    return status == 200 and body.strip() == state
