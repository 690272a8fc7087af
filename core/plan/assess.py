"""What a workflow pod's status means for its node (Argo `assessNodeStatus`, `inferFailedReason`).

`assess_pod` reads one observed v1 Pod and says which phase and message its node should take,
following argo-semantics §5.7 row by row:

    pod Pending    -> Pending, with the first waiting container's `Reason: Message` or the
                      `Unschedulable` condition as message
    pod Running    -> Running (a daemon only once every container is Ready: then `daemoned`)
    pod Succeeded  -> Succeeded (a daemon that exits by itself -> Failed)
    pod Failed     -> inferFailedReason (a daemon that was already daemoned -> Succeeded: the
                      controller killed it)
    anything else  -> Error `Unexpected pod phase for <pod>: <phase>`

It decides nothing that needs the node's history or the clock: "hold the old phase while `wait`
still uploads outputs" and "mark the task result complete" are reported (`wait_running`,
`task_result_abandoned`) for the planner to apply, and `finished_at` is None while a container
still runs (Argo uses "now" there). `should_kill_sidecars` names the containers the controller
SIGTERMs once the main work is over.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Collection
from typing import Any

import msgspec

from tiphys.core.plan._poderrors import PodStatusError
from tiphys.core.plan._podresources import resources_duration

__all__ = ["ContainerState", "PodAssessment", "assess_pod", "infer_failed_reason", "should_kill_sidecars"]

_AUX = frozenset({"wait", "supervisor"})  # `supervisor` replaces `wait` in Argo's init-less layout


class ContainerState(msgspec.Struct, frozen=True, kw_only=True):
    """The node-level reading of one containerSet container (node `<pod node>.<name>`)."""

    phase: str
    message: str = ""
    exit_code: int | None = None
    started_at: str | None = None
    finished_at: str | None = None


class PodAssessment(msgspec.Struct, frozen=True, kw_only=True):
    phase: str
    message: str = ""
    exit_code: str | None = None  # main's, as a string (node `outputs.exitCode`)
    host_node_name: str = ""
    pod_ip: str = ""  # only for daemoned nodes, as Argo records it
    started_at: str | None = None
    finished_at: str | None = None  # latest container finish; None while a container still runs
    daemoned: bool = False
    wait_running: bool = False  # completed but `wait` still uploading: keep the old phase
    main_done: bool = False  # every main container has terminated
    # `wait` failed, or the pod was evicted with no aux container: outputs will never be reported,
    # so the node's task result must be marked complete or it hangs
    task_result_abandoned: bool = False
    containers: dict[str, ContainerState] = {}
    # node `resourcesDuration` (seconds per resource unit), computed once the pod has finished
    resources_duration: dict[str, int] = {}


def _map(value: Any, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PodStatusError(where, f"expected a mapping, got {type(value).__name__}")
    return value


def _statuses(status: dict, key: str, pod: str) -> list[dict]:
    items = status.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise PodStatusError(f"pod {pod}: status.{key}", "expected a list")
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise PodStatusError(f"pod {pod}: status.{key}[{i}]", "expected a container status with a name")
        _map(item.get("state"), f"pod {pod}: status.{key}[{i}].state")
    return items


def _state(ctr: dict) -> tuple[str, dict]:
    """("waiting" | "running" | "terminated" | "", detail) of one container status."""
    state = ctr.get("state") or {}
    for key in ("terminated", "running", "waiting"):
        if state.get(key) is not None:
            return key, state[key] or {}
    return "", {}


def _exit_code(term: dict, where: str) -> int:
    code = term.get("exitCode", 0)
    if isinstance(code, bool) or not isinstance(code, int):
        raise PodStatusError(where, f"exitCode must be an integer, got {code!r}")
    return code


def _failure_text(name: str, term: dict, code: int) -> str:
    msg = f"{name}: {term.get('reason', '')} (exit code {code})"
    return f"{msg}: {term['message']}" if term.get("message") else msg


def _when(text: str) -> _dt.datetime:
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _latest_finish(statuses: list[dict], pod: str) -> str | None:
    latest, latest_text = None, None
    for ctr in statuses:
        kind, detail = _state(ctr)
        if kind == "running":
            return None  # Argo: "now or later"; the planner has the clock
        if kind == "terminated" and detail.get("finishedAt"):
            try:
                t = _when(str(detail["finishedAt"]))
            except ValueError:
                raise PodStatusError(f"pod {pod}: {ctr['name']}.finishedAt",
                                     f"not an RFC3339 time: {detail['finishedAt']!r}") from None
            if latest is None or t > latest:
                latest, latest_text = t, str(detail["finishedAt"])
    return latest_text


def _pending_reason(containers: list[dict], conditions: list) -> str:
    """Argo `getPendingReason`: first waiting container, else the Unschedulable condition."""
    for ctr in containers:
        kind, detail = _state(ctr)
        if kind == "waiting":
            reason, message = detail.get("reason", ""), detail.get("message", "")
            return f"{reason}: {message}" if message else reason
    for cond in conditions:
        if isinstance(cond, dict) and cond.get("reason") == "Unschedulable":
            return f"Unschedulable: {cond['message']}" if cond.get("message") else "Unschedulable"
    return ""


def infer_failed_reason(pod: dict, /, *, main_containers: Collection[str] = ("main",)) -> tuple[str, str]:
    """(phase, message) of a Failed pod's node, §5.7 `inferFailedReason`."""
    meta = _map(pod.get("metadata"), "pod.metadata")
    name, ns = meta.get("name", ""), meta.get("namespace", "")
    status = _map(pod.get("status"), f"pod {name}: status")
    if status.get("message"):
        return "Failed", str(status["message"])
    mains = set(main_containers)

    def order(c: dict) -> int:
        return 1 if c["name"] in mains else 2 if c["name"] in _AUX else 3

    inits = _statuses(status, "initContainerStatuses", name)
    ctrs = sorted(_statuses(status, "containerStatuses", name), key=order)  # stable: kubelet order within a rank
    if not inits and not ctrs:
        return "Failed", f"can't find failed message for pod {name} namespace {ns}"
    succeeded: set[str] = set()
    for ctr in [*inits, *ctrs]:
        cname = ctr["name"]
        kind, detail = _state(ctr)
        if kind == "waiting":
            return "Error", (f"Pod failed before {cname} container starts due to "
                             f"{detail.get('reason', '')}: {detail.get('message', '')}")
        if kind != "terminated":
            continue
        code = _exit_code(detail, f"pod {name}: {cname}.exitCode")
        if code == 0:
            succeeded.add(cname)
            continue
        msg = _failure_text(cname, detail, code)
        if cname == "init" or cname in _AUX:
            return "Error", msg
        if cname in mains:
            return "Failed", msg
        if code in (137, 143):
            continue  # a sidecar killed by SIGKILL/SIGTERM: the executor stopped it after main
        return "Failed", msg
    present_mains = [c["name"] for c in ctrs if c["name"] in mains]
    main_ok = bool(present_mains) and all(n in succeeded for n in present_mains)
    # resource/data pods have no wait container: nothing to wait for there
    aux = [c["name"] for c in ctrs if c["name"] in _AUX]
    wait_ok = all(n in succeeded for n in aux)
    if main_ok and wait_ok:
        return "Succeeded", ""
    if main_ok:
        return "Failed", "pod failed: wait container did not complete successfully"
    if wait_ok:
        return "Failed", "pod failed: main container did not complete successfully"
    return "Failed", "pod failed: neither main nor wait container completed successfully"


def _container_set(ctrs: list[dict], mains: Collection[str], pod_failed: bool, pod: str) -> dict[str, ContainerState]:
    out = {}
    for ctr in ctrs:
        cname = ctr["name"]
        if cname not in mains:
            continue
        kind, detail = _state(ctr)
        started = detail.get("startedAt")
        if kind == "waiting":
            out[cname] = ContainerState(phase="Pending")
        elif kind == "running":
            out[cname] = (ContainerState(phase="Failed", message="Pod Failed whilst container running",
                                         started_at=started) if pod_failed
                          else ContainerState(phase="Running", started_at=started))
        elif kind == "terminated":
            code = _exit_code(detail, f"pod {pod}: {cname}.exitCode")
            # 64: emissary itself failed before or around the user's command (argo-semantics §6.2)
            phase = "Succeeded" if code == 0 else "Error" if code == 64 else "Failed"
            out[cname] = ContainerState(phase=phase, message="" if code == 0 else _failure_text(cname, detail, code),
                                        exit_code=code, started_at=started, finished_at=detail.get("finishedAt"))
    return out


def assess_pod(pod: dict, /, *, daemon: bool = False, daemoned: bool = False,
               main_containers: Collection[str] | None = None) -> PodAssessment:
    """The node reading of `pod`.

    `daemon`: the template is a daemon; `daemoned`: the node was already daemoned (a Failed pod
    then means the controller stopped it: Succeeded). `main_containers`: the containerSet's
    container names (their states fill `containers`); None means a single `main`.
    """
    if not isinstance(pod, dict):
        raise PodStatusError("pod", f"expected a mapping, got {type(pod).__name__}")
    meta = _map(pod.get("metadata"), "pod.metadata")
    name = str(meta.get("name", ""))
    status = _map(pod.get("status"), f"pod {name}: status")
    spec = _map(pod.get("spec"), f"pod {name}: spec")
    mains = set(main_containers) if main_containers else {"main"}
    inits = _statuses(status, "initContainerStatuses", name)
    ctrs = _statuses(status, "containerStatuses", name)
    conditions = status.get("conditions") or []
    pod_phase = status.get("phase")

    is_daemoned, message = False, ""
    if pod_phase == "Pending":
        phase, message = "Pending", _pending_reason(ctrs, conditions if isinstance(conditions, list) else [])
    elif pod_phase == "Succeeded":
        phase = "Failed" if daemon else "Succeeded"
    elif pod_phase == "Failed":
        phase, message = ("Succeeded", "") if daemoned else infer_failed_reason(pod, main_containers=mains)
    elif pod_phase == "Running":
        phase = "Running"
        if daemon and not daemoned:
            # Argo leaves the node untouched until every container is Ready; it was Pending before
            is_daemoned = bool(ctrs) and all(c.get("ready") is True for c in ctrs)
            phase = "Running" if is_daemoned else "Pending"
        else:
            is_daemoned = daemoned
    else:
        phase, message = "Error", f"Unexpected pod phase for {name}: {pod_phase or ''}"

    main_exit = None
    for ctr in ctrs:
        kind, detail = _state(ctr)
        if ctr["name"] == "main" and kind == "terminated":
            main_exit = str(_exit_code(detail, f"pod {name}: main.exitCode"))
            break
    main_states = [_state(c)[0] for c in ctrs if c["name"] in mains]
    aux = [(c["name"], *_state(c)) for c in ctrs if c["name"] in _AUX]
    wait_running = any(kind == "running" for _, kind, _ in aux)
    wait_failed = any(kind == "terminated" and _exit_code(d, f"pod {name}: {n}.exitCode") != 0 for n, kind, d in aux)
    evicted_alone = status.get("reason") == "Evicted" and not aux

    return PodAssessment(
        phase=phase, message=message, exit_code=main_exit, host_node_name=str(spec.get("nodeName") or ""),
        pod_ip=str(status.get("podIP") or "") if is_daemoned else "",
        started_at=status.get("startTime"), finished_at=_latest_finish([*inits, *ctrs], name),
        daemoned=is_daemoned, wait_running=wait_running,
        main_done=bool(main_states) and all(k == "terminated" for k in main_states),
        task_result_abandoned=wait_failed or evicted_alone,
        containers=_container_set(ctrs, mains, pod_phase == "Failed", name) if main_containers else {},
        resources_duration=resources_duration(pod) if pod_phase in ("Succeeded", "Failed") else {},
    )


def should_kill_sidecars(pod: dict, /, *, main_containers: Collection[str] | None = None) -> list[str]:
    """Sidecars to SIGTERM: the pod runs, and every main container ended or one of them failed.

    `wait` is never signalled here (it exits by itself once main's exit codes exist, and killing
    it would lose outputs); a container still Waiting has no process to signal.
    """
    if not isinstance(pod, dict):
        raise PodStatusError("pod", f"expected a mapping, got {type(pod).__name__}")
    name = str(_map(pod.get("metadata"), "pod.metadata").get("name", ""))
    status = _map(pod.get("status"), f"pod {name}: status")
    if status.get("phase") != "Running":
        return []
    mains = set(main_containers) if main_containers else {"main"}
    ctrs = _statuses(status, "containerStatuses", name)
    main_ctrs = [c for c in ctrs if c["name"] in mains]
    if not main_ctrs:
        return []
    ended = [c for c in main_ctrs if _state(c)[0] == "terminated"]
    any_failed = any(_exit_code(_state(c)[1], f"pod {name}: {c['name']}.exitCode") != 0 for c in ended)
    if len(ended) < len(main_ctrs) and not any_failed:
        return []
    return [c["name"] for c in ctrs
            if c["name"] not in mains and c["name"] not in _AUX and _state(c)[0] == "running"]
