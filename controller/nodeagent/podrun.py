"""Run one pod to completion on this host, reporting its status as a kubelet does.

`PodRun.run()` is the pod's single task. It materialises the volumes, runs the init containers
one after the other (a native sidecar, an init container with `restartPolicy: Always`, is
started and left running), then starts every container, and waits. Everything that can happen
to a running pod arrives as a flag plus a wake-up of that one task: a container process exited
(a done-callback of its reaper), the relay tick, `activeDeadlineSeconds` (a clock timer), a
deletion (`request_delete`), the controller's `terminate-containers` annotation (`terminate`).
After each wake-up the task reaps, relays task results, applies the kill policy, and writes the
status if it changed. The status flows Pending (ContainerCreating, PodInitializing) -> Running
-> Succeeded or Failed with restartPolicy Never semantics (containers are never restarted).

Kill policy: once every container that is not a sidecar has ended, the sidecars (Argo's
template `sidecars`, named in the template the controller hands the executor, and native
sidecars) get SIGTERM, then SIGKILL after the pod's `terminationGracePeriodSeconds` (default
30). Deletion and the deadline do the same to every container. A pod that cannot start (no host
image, a volume or env source missing) keeps the waiting reason on the container and fails with
that message; a kubelet would leave it Pending and retry, which for a local run means hanging.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError, NotFound

from .cgroups import MemoryCgroups
from .errors import ContainerConfigError, NodeAgentError
from .images import ImageMap
from .podenv import SourceCache, container_env, parse_quantity
from .process import ContainerProcess, StartFailed
from .agentpod import InProcessAgent, agent_role
from .gcpod import InProcessArtifactGC, is_artifact_gc_command
from .datapod import InProcessData, is_data_command
from .resourcepod import InProcessContainer, resource_action
from .mountpoints import Lease, MountPoints
from .sandbox import PYTHON_HELPER, Isolation, container_mounts, expand_vars, launch_spec, with_private_dirs
from .status import ContainerState, PodConditions, pod_status, timestamp
from .taskresults import TaskResultRelay
from .volumes import materialize_volumes

__all__ = ["PodRun", "RunContext", "pod_sidecars"]

_log = logging.getLogger("tiphys.nodeagent")
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class RunContext:
    """What every pod run shares: the API, the clock, the image map and the directories."""

    def __init__(self, api: base.Api, /, *, clock: Any, images: ImageMap, isolation: Isolation, root_dir: Path,
                 relay_interval: float = 0.2, keep_pod_dirs: bool = False,
                 cgroups: MemoryCgroups | None = None, helper: Sequence[str] = PYTHON_HELPER,
                 resource_poll_interval: float | None = None) -> None:
        self.api, self.clock, self.images, self.isolation = api, clock, images, isolation
        self.cgroups = cgroups if isolation is Isolation.NAMESPACE else None  # joined by `_enter.py`
        self.root_dir = root_dir
        self.relay_interval = relay_interval
        self.helper = tuple(helper)  # the enter helper's argv prefix (C binary or Python script)
        self.keep_pod_dirs = keep_pod_dirs
        # how often resource templates re-read their object for conditions (None: Argo's 5 s)
        self.resource_poll_interval = resource_poll_interval
        # host paths containers must still see under their mounts (see `container_mounts`)
        self.mount_points = MountPoints()  # the mount points made on the host, shared by every pod
        self.keep_visible = [root_dir, Path(sys.prefix), Path(sys.base_prefix),
                             Path(__file__).resolve().parents[2]]

    def log_path(self, namespace: str, pod: str, container: str) -> Path:
        return self.root_dir / "logs" / namespace / pod / f"{container}.log"


def pod_sidecars(pod: dict[str, Any], /) -> set[str]:
    """Names of Argo sidecars: the `sidecars` of the template in the executor's ARGO_TEMPLATE."""
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for env in c.get("env") or ():
            if env.get("name") == "ARGO_TEMPLATE" and env.get("value"):
                try:
                    tmpl = json.loads(env["value"])
                except ValueError:
                    return set()  # the executor reports a bad template itself
                return {s.get("name") for s in (tmpl.get("sidecars") or ()) if isinstance(s, dict)} - {None}
    return set()


class PodRun:
    def __init__(self, ctx: RunContext, pod: dict[str, Any], /) -> None:
        self.ctx = ctx
        self.pod = pod
        meta, spec = pod["metadata"], pod.get("spec") or {}
        self.namespace, self.name, self.uid = str(meta.get("namespace") or "default"), meta["name"], meta["uid"]
        self.dir = ctx.root_dir / "pods" / self.uid
        self.init_specs = list(spec.get("initContainers") or ())
        self.ctr_specs = list(spec.get("containers") or ())
        self.native = {c["name"] for c in self.init_specs if c.get("restartPolicy") == "Always"}
        self.sidecars = pod_sidecars(pod) | self.native
        self.grace = float(spec.get("terminationGracePeriodSeconds", 30))
        # what `hostname` says inside the pod: spec.hostname or the pod name (63 characters at most,
        # as the kubelet truncates); a hostNetwork pod keeps the host's
        self.hostname = "" if spec.get("hostNetwork") else str(spec.get("hostname") or self.name)[:63].rstrip("-.")
        self.init = [ContainerState(c["name"], str(c.get("image", ""))) for c in self.init_specs]
        self.ctrs = [ContainerState(c["name"], str(c.get("image", ""))) for c in self.ctr_specs]
        self.states = {s.name: s for s in (*self.init, *self.ctrs)}
        self.conditions = PodConditions()
        self.phase, self.reason, self.message = "Pending", "", ""
        self.start_time: str | None = None
        self._procs: dict[str, ContainerProcess | InProcessContainer | InProcessData | InProcessAgent] = {}
        self._reapers: dict[str, asyncio.Future[tuple[int, str]]] = {}
        self._wake = asyncio.Event()
        self._timers: list[Any] = []  # deadline and kill escalations: a handful per pod
        self._relay_timer: Any = None  # the one pending relay tick
        self._deleting = self._deadline = False
        self._abort_rest = False  # an init container failed: the pod is over
        self._abort: NodeAgentError | None = None  # a container could not be created: fail the pod
        self._signalled: dict[str, int] = {}  # container -> strongest signal sent
        self._relay = TaskResultRelay(ctx.api, self.dir / "taskresults", self.namespace)
        self._last_status: dict[str, Any] | None = None
        self._volumes: dict[str, Path] = {}
        self._cgroups: dict[str, Path] = {}  # container -> its memory cgroup
        self._leases: dict[str, Lease] = {}  # container -> the host mount points it holds
        self._sources = SourceCache(ctx.api, self.namespace)
        self.deleted = False  # the pod object is gone (NotFound on a status write): no more writes

    @property
    def deleting(self) -> bool:
        return self._deleting

    # -- requests from the agent (synchronous: they only flag and wake the pod's task) ---------

    def request_delete(self, grace: float | None = None, /) -> None:
        """Stop the pod for deletion; `grace` (the pod's deletionGracePeriodSeconds) replaces
        terminationGracePeriodSeconds before SIGKILL, as the kubelet does."""
        if grace is not None and not self._deleting:
            self.grace = max(0.0, float(grace))
        self._deleting = True
        self._wake.set()

    def terminate(self, names: list[str], /) -> None:
        """SIGTERM the named running containers, SIGKILL after the grace period."""
        for name in names:
            if name in self._procs and self.states[name].running and self._signalled.get(name, 0) < signal.SIGTERM:
                self._signal(name, signal.SIGTERM)
        self._wake.set()

    def abandon(self) -> None:
        """Agent shutdown: SIGKILL everything at once; no further status writes."""
        for name in list(self._procs):
            self._procs[name].signal(signal.SIGKILL)
        self._cancel_timers()

    # -- the pod's task -------------------------------------------------------------------------

    async def run(self) -> None:
        now = self._now()
        self.start_time = now
        self.conditions.set("PodScheduled", True, now)
        self.conditions.set("PodReadyToStartContainers", False, now)
        self.conditions.set("Initialized", not self.init_specs, now,
                            reason="" if not self.init_specs else "ContainersNotInitialized")
        self._ready(now)
        ads = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        if ads is not None:
            self._timers.append(self.ctx.clock.call_at(self.ctx.clock.now() + float(ads), self._on_deadline))
        try:
            await self._run()
        finally:
            self._cancel_timers()
            for name in list(self._procs):
                self._procs[name].signal(signal.SIGKILL)
            for name in list(self._cgroups):
                if name not in self._reapers:  # never started, or already reaped
                    self._drop_cgroup(name)
            for name in list(self._leases):
                self._release_mount_points(name)
            if not self.ctx.keep_pod_dirs:
                await asyncio.to_thread(shutil.rmtree, self.dir / "tmp", ignore_errors=True)

    async def _run(self) -> None:
        for c in self.ctrs:
            c.wait("PodInitializing" if self.init_specs else "ContainerCreating")
        try:
            for spec in [*self.init_specs, *self.ctr_specs]:
                self.ctx.images.lookup(str(spec.get("image", "")), where=self._where(spec["name"]))
            self._volumes = await materialize_volumes(self.ctx.api, self.pod, pod_dir=self.dir,
                                                      pvc_root=self.ctx.root_dir / "pvcs")
        except NodeAgentError as exc:
            culprit = next((s for s in self.states.values() if exc.where.endswith(f"container {s.name}")), None)
            self._fail_to_start(exc, culprit)
            return await self._finish()
        self.conditions.set("PodReadyToStartContainers", True, self._now())
        await self._publish()
        for spec in self.init_specs:
            state = self.states[spec["name"]]
            if self._stopping() or not await self._start(spec):
                return await self._finish()
            if state.name in self.native:
                continue
            await self._pump(lambda s=state: s.terminated)
            if self._stopping():
                return await self._finish()
            if state.exit_code != 0:
                self._abort_rest = True
                return await self._finish()
        now = self._now()
        self.conditions.set("Initialized", True, now)
        for spec in self.ctr_specs:
            if self._stopping() or not await self._start(spec):
                return await self._finish()
        self.phase = "Running"
        await self._publish()
        await self._pump(lambda: all(c.terminated for c in self.ctrs) and not self._running_native())
        await self._finish()

    def _running_native(self) -> bool:
        return any(self.states[n].running for n in self.native)

    def _stopping(self) -> bool:
        return self._deleting or self._deadline or self._abort is not None or self._abort_rest

    async def _start(self, spec: dict[str, Any]) -> bool:
        """Start one container; False when the pod cannot go on (a config error ends it)."""
        name = spec["name"]
        state, where = self.states[name], self._where(name)
        ctx = self.ctx
        try:
            resolved = ctx.images.resolve(str(spec.get("image", "")), spec.get("command"), spec.get("args"),
                                          where=where)
            env = await container_env(self.pod, spec, cache=self._sources, image_env=resolved.env,
                                      image_path=resolved.path, where=where)
            if ctx.images.is_executor(str(spec.get("image", ""))):
                env["TIPHYS_TASK_RESULT_DIR"] = str(self._relay.directory)
                action = resource_action(spec)
                if action is not None:  # `argoexec resource`: played by the agent (resourcepod.py)
                    return self._start_in_process(spec, action, env)
                if is_data_command(spec):  # `argoexec data`: played by the agent too (datapod.py)
                    return self._start_in_process(spec, None, env)
                role = agent_role(spec)
                if role is not None:  # `argoexec agent`: the HTTP templates' agent (agentpod.py)
                    return self._start_agent(spec, role, env)
                if is_artifact_gc_command(spec):  # `argoexec artifact-gc`: the GC pod (gcpod.py)
                    return self._start_artifact_gc(spec, env)
            argv = [expand_vars(a, env) for a in resolved.argv]
            namespaced = ctx.isolation is Isolation.NAMESPACE
            if namespaced:  # the agent's own binds (a checkout under /tmp) are no output of the container
                env["TIPHYS_ARCHIVE_SKIP"] = ":".join(os.path.normpath(p) for p in ctx.keep_visible)
            mounts = container_mounts(spec, self._volumes, env=env, where=where,
                                      tmp_dir=self.dir / "tmp" / name if namespaced else None,
                                      keep_visible=ctx.keep_visible if namespaced else ())
            if namespaced:
                targets = [(m.target, Path(m.source).is_dir()) for m in mounts]
                tmpfs, self._leases[name] = ctx.mount_points.plan(targets, cwd=spec.get("workingDir"), where=where)
                mounts = with_private_dirs(mounts, tmpfs)
            limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
            procs = None
            if limit is not None and ctx.cgroups is not None:
                size = int(parse_quantity(limit, where=f"{where}.resources.limits.memory"))
                try:
                    self._cgroups[name] = ctx.cgroups.create(f"tiphys-{self.uid}-{name}", size)
                except OSError as exc:
                    raise ContainerConfigError(f"{where}.resources.limits.memory",
                                               f"cannot create a memory cgroup: {exc}") from None
                procs = ctx.cgroups.procs_file(self._cgroups[name])
            pair = os.pipe() if namespaced else None
            launch = launch_spec(ctx.isolation, argv, env, cwd=spec.get("workingDir"), mounts=mounts,
                                 view_dir=self.dir / "views" / name, errfd=pair[1] if pair else None,
                                 cgroup_procs=procs, hostname=self.hostname, helper=ctx.helper)
        except NodeAgentError as exc:
            self._release_mount_points(name)
            self._fail_to_start(exc, state)
            return False
        log_path = ctx.log_path(self.namespace, self.name, name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")  # a fresh log per pod run
        try:
            proc = await ContainerProcess.spawn(launch, log_path, errfd_pair=pair)
        except StartFailed as exc:
            self._release_mount_points(name)
            state.finish(self._now(), 128, reason="StartError", message=exc.message)
            self._wake.set()
            return True
        self._procs[name] = proc
        state.start(self._now(), proc.pid)
        reaper = asyncio.ensure_future(proc.wait())
        reaper.add_done_callback(lambda _: self._wake.set())
        self._reapers[name] = reaper
        if ctx.images.is_executor(str(spec.get("image", ""))):
            self._tick()
        return True

    def _start_in_process(self, spec: dict[str, Any], action: str | None, env: dict[str, str]) -> bool:
        """A resource (`action`) or data (`None`) container played by the agent."""
        name = spec["name"]
        log_path = self.ctx.log_path(self.namespace, self.name, name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        ctr: InProcessContainer | InProcessData
        if action is None:
            ctr = InProcessData(self.pod, spec, env, api=self.ctx.api, volumes=self._volumes, log_path=log_path,
                                task_result_dir=self._relay.directory)
        else:
            ctr = InProcessContainer(self.pod, spec, action, env, api=self.ctx.api, volumes=self._volumes,
                                     log_path=log_path, task_result_dir=self._relay.directory,
                                     poll_interval=self.ctx.resource_poll_interval)
        self._procs[name] = ctr
        self.states[name].start(self._now(), None)
        reaper = ctr.start()
        reaper.add_done_callback(lambda _: self._wake.set())
        self._reapers[name] = reaper
        self._tick()
        return True

    def _start_artifact_gc(self, spec: dict[str, Any], env: dict[str, str]) -> bool:
        name = spec["name"]
        log_path = self.ctx.log_path(self.namespace, self.name, name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        ctr = InProcessArtifactGC(spec, env, api=self.ctx.api, volumes=self._volumes, log_path=log_path)
        self._procs[name] = ctr
        self.states[name].start(self._now(), None)
        reaper = ctr.start()
        reaper.add_done_callback(lambda _: self._wake.set())
        self._reapers[name] = reaper
        return True

    def _start_agent(self, spec: dict[str, Any], role: str, env: dict[str, str]) -> bool:
        name = spec["name"]
        log_path = self.ctx.log_path(self.namespace, self.name, name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        ctr = InProcessAgent(role, env, api=self.ctx.api, log_path=log_path)
        self._procs[name] = ctr
        self.states[name].start(self._now(), None)
        reaper = ctr.start()
        reaper.add_done_callback(lambda _: self._wake.set())
        self._reapers[name] = reaper
        return True

    async def _pump(self, done: Any) -> None:
        """Handle wake-ups until `done()` holds (or the pod is being stopped and nothing runs)."""
        while True:
            self._reap()
            await self._relay.sync()
            self._apply_kill_policy()
            await self._publish()
            if done() or (self._stopping() and not any(s.running for s in self.states.values())):
                return
            await self._wake.wait()
            self._wake.clear()

    def _reap(self) -> None:
        for name, reaper in list(self._reapers.items()):
            if reaper.done():
                del self._reapers[name]
                code, failure = reaper.result()
                if failure:  # `_enter.py` could not set up or exec: the runtime's StartError
                    self.states[name].finish(self._now(), 128, reason="StartError", message=failure.strip())
                    with open(self.ctx.log_path(self.namespace, self.name, name), "ab") as log:
                        log.write(failure.encode() + b"\n")
                else:
                    oom = code == 137 and name in self._cgroups and self.ctx.cgroups is not None \
                        and self.ctx.cgroups.oom_killed(self._cgroups[name])
                    proc = self._procs.get(name)
                    message = proc.message if isinstance(proc, (InProcessContainer, InProcessData, InProcessAgent)) else ""
                    self.states[name].finish(self._now(), code, reason="OOMKilled" if oom else None,
                                             message=message)
                self._drop_cgroup(name)
                self._release_mount_points(name)

    def _release_mount_points(self, name: str) -> None:
        lease = self._leases.pop(name, None)
        if lease is not None:
            self.ctx.mount_points.release(lease)

    def _drop_cgroup(self, name: str) -> None:
        path = self._cgroups.pop(name, None)
        if path is not None and self.ctx.cgroups is not None:
            try:
                self.ctx.cgroups.remove(path)
            except OSError as exc:  # still populated (a process escaped the session): leave it
                _log.warning("pod %s/%s: cannot remove cgroup %s: %s", self.namespace, self.name, path, exc)

    def _apply_kill_policy(self) -> None:
        if self._stopping():
            targets = [n for n, s in self.states.items() if s.running]
        else:
            mains = [c for c in self.ctrs if c.name not in self.sidecars]
            if not all(c.terminated for c in mains):
                return
            targets = [n for n in self.sidecars if n in self.states and self.states[n].running]
        for name in targets:
            if self._signalled.get(name, 0) < signal.SIGTERM:
                self._signal(name, signal.SIGTERM)

    def _signal(self, name: str, sig: int) -> None:
        self._signalled[name] = max(self._signalled.get(name, 0), sig)
        self._procs[name].signal(sig)
        if sig == signal.SIGTERM:
            def escalate() -> None:
                if self.states[name].running:
                    self._signal(name, signal.SIGKILL)
            self._timers.append(self.ctx.clock.call_at(self.ctx.clock.now() + self.grace, escalate))

    def _tick(self) -> None:
        """Arm the relay wake-up; it re-arms itself while an executor container runs."""
        if self._relay_timer is not None:
            return

        def fire() -> None:
            self._relay_timer = None
            self._wake.set()
            if any(s.running and self.ctx.images.is_executor(s.image) for s in self.states.values()):
                self._tick()
        self._relay_timer = self.ctx.clock.call_at(self.ctx.clock.now() + self.ctx.relay_interval, fire)

    def _on_deadline(self) -> None:
        if self.phase in ("Pending", "Running"):
            self._deadline = True
            self._wake.set()

    # -- status -------------------------------------------------------------------------------

    def _ready(self, now: str) -> None:
        unready = [c.name for c in self.ctrs if not c.running]
        if self.phase in ("Succeeded", "Failed"):
            self.conditions.set("ContainersReady", False, now, reason="PodCompleted")
            self.conditions.set("Ready", False, now, reason="PodCompleted")
        elif unready:
            msg = f"containers with unready status: [{' '.join(unready)}]"
            self.conditions.set("ContainersReady", False, now, reason="ContainersNotReady", message=msg)
            self.conditions.set("Ready", False, now, reason="ContainersNotReady", message=msg)
        else:
            self.conditions.set("ContainersReady", True, now)
            self.conditions.set("Ready", True, now)

    async def _publish(self) -> bool:
        """Write the status if it changed; False on an API failure (retried at the next wake-up)."""
        if self.deleted:
            return True
        self._ready(self._now())
        status = pod_status(self.phase, conditions=self.conditions, init=self.init, containers=self.ctrs,
                            start_time=self.start_time, reason=self.reason, message=self.message)
        if status == self._last_status:
            return True
        try:
            await self.ctx.api.patch(base.PODS, self.name, {"status": status}, namespace=self.namespace,
                                     subresource="status")
        except NotFound:
            self.deleted = True  # gone under us: stop writing, the agent forgets it
            self._deleting = True
            self._wake.set()
            return True
        except ApiError as exc:
            _log.warning("pod %s/%s: status write failed: %r", self.namespace, self.name, exc)
            return False
        self._last_status = status
        return True

    def _fail_to_start(self, exc: NodeAgentError, culprit: ContainerState | None) -> None:
        _log.warning("%s", exc)
        if culprit is not None:
            culprit.wait(exc.reason, exc.message)
        self._abort = exc

    async def _finish(self) -> None:
        """Stop what still runs, then write the terminal status (not for a deleted pod)."""
        await self._pump(lambda: not any(s.running for s in self.states.values()))
        if self._deleting:
            return
        if self._deadline:
            self.phase, self.reason, self.message = "Failed", "DeadlineExceeded", DEADLINE_MESSAGE
        elif self._abort is not None:
            self.phase, self.reason, self.message = "Failed", self._abort.reason, str(self._abort)
        else:
            # kubelet `getPhase` with restartPolicy Never: all regular containers ended
            ok = all(c.exit_code == 0 for c in self.ctrs) and not any(c.exit_code is not None and c.exit_code != 0
                                                                      for c in self.init if c.name not in self.native)
            started = all(c.terminated for c in self.ctrs)
            self.phase = "Succeeded" if ok and started else "Failed"
        await self._relay.sync()
        for attempt in range(6):
            if await self._publish():
                return
            await self.ctx.clock.sleep(min(0.5 * 2 ** attempt, 8.0))
        _log.error("pod %s/%s: could not write the final status", self.namespace, self.name)

    def _cancel_timers(self) -> None:
        if self._relay_timer is not None:
            self._relay_timer.cancel()
            self._relay_timer = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _where(self, container: str) -> str:
        return f"pod {self.namespace}/{self.name} container {container}"

    def _now(self) -> str:
        return timestamp(self.ctx.clock.now())
