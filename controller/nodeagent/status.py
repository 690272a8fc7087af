"""Pod status as a kubelet writes it: container states, conditions, phase.

`ContainerState` is the agent's record of one container; `container_status` renders it as a
`v1.ContainerStatus` (`state.waiting|running|terminated`, `ready`, `started`, `restartCount`).
`PodConditions` keeps each condition's `lastTransitionTime` stable until its status changes, as
the kubelet's status manager does. `pod_status` assembles the whole `status` object; the agent
sends it as one merge patch, because a merge patch replaces lists whole.

Reasons follow the kubelet and containerd: waiting `ContainerCreating` before anything started,
`PodInitializing` while init containers run; terminated `Completed` (exit 0), `Error`
(non-zero), `StartError` (exit 128: the command could not be started), `OOMKilled` when the
process was killed by the kernel's OOM killer (only observable where the agent confines the
container in a memory cgroup; see `podrun.py`).
"""
from __future__ import annotations

from typing import Any

__all__ = ["ContainerState", "PodConditions", "container_status", "pod_status", "timestamp", "HOST_IP"]

HOST_IP = "127.0.0.1"


def timestamp(now: float, /) -> str:
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


class ContainerState:
    """One container's lifecycle as observed by the agent (mutable, owned by its pod run)."""

    __slots__ = ("name", "image", "waiting_reason", "waiting_message", "started_at", "finished_at", "exit_code",
                 "reason", "message", "pid")

    def __init__(self, name: str, image: str, /) -> None:
        self.name, self.image = name, image
        self.waiting_reason, self.waiting_message = "ContainerCreating", ""
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.exit_code: int | None = None
        self.reason = ""
        self.message = ""
        self.pid: int | None = None

    @property
    def running(self) -> bool:
        return self.started_at is not None and self.exit_code is None

    @property
    def terminated(self) -> bool:
        return self.exit_code is not None

    def start(self, when: str, pid: int | None) -> None:
        self.started_at, self.pid = when, pid

    def finish(self, when: str, exit_code: int, *, reason: str | None = None, message: str = "") -> None:
        if self.started_at is None:
            self.started_at = when
        self.finished_at, self.exit_code = when, exit_code
        self.reason = reason or ("Completed" if exit_code == 0 else "Error")
        self.message = message

    def wait(self, reason: str, message: str = "") -> None:
        self.waiting_reason, self.waiting_message = reason, message


def container_status(c: ContainerState, /) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "image": c.image, "imageID": "", "restartCount": 0,
                           "ready": c.running, "started": c.running}
    if c.pid is not None:
        out["containerID"] = f"tiphys://{c.pid}"
    if c.terminated:
        term: dict[str, Any] = {"exitCode": c.exit_code, "reason": c.reason, "startedAt": c.started_at,
                                "finishedAt": c.finished_at}
        if c.message:
            term["message"] = c.message
        if c.pid is not None:
            term["containerID"] = out["containerID"]
        out["state"] = {"terminated": term}
    elif c.running:
        out["state"] = {"running": {"startedAt": c.started_at}}
    else:
        waiting = {"reason": c.waiting_reason}
        if c.waiting_message:
            waiting["message"] = c.waiting_message
        out["state"] = {"waiting": waiting}
    return out


class PodConditions:
    """Pod conditions with stable transition times."""

    _ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Any]] = {}

    def set(self, kind: str, ok: bool, now: str, *, reason: str = "", message: str = "") -> None:
        status = "True" if ok else "False"
        cond = self._items.get(kind)
        if cond is None or cond["status"] != status:
            cond = {"type": kind, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
            self._items[kind] = cond
        cond.pop("reason", None)
        cond.pop("message", None)
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message

    def render(self) -> list[dict[str, Any]]:
        return [dict(self._items[k]) for k in self._ORDER if k in self._items]


def pod_status(phase: str, /, *, conditions: PodConditions, init: list[ContainerState],
               containers: list[ContainerState], start_time: str | None, reason: str = "",
               message: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "conditions": conditions.render(), "hostIP": HOST_IP,
                              "hostIPs": [{"ip": HOST_IP}], "podIP": HOST_IP, "podIPs": [{"ip": HOST_IP}]}
    if start_time is not None:
        status["startTime"] = start_time
    if init:
        status["initContainerStatuses"] = [container_status(c) for c in init]
    status["containerStatuses"] = [container_status(c) for c in containers]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status
