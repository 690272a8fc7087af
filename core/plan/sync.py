"""`synchronization`: the planner's side of Argo's mutexes and semaphores (argo-semantics §5.13).

Locks span workflows, so the table lives in the controller; the planner asks it through the
`LockService` injected into the Execution (as `library` and `configmaps` are), never importing
controller code. Without one (unit tests, a lone Execution) a private `LocalLocks` serves the
workflow alone, so its template-level locks still serialise its own nodes.

- Workflow level (`spec.synchronization`, §5.2 step 8): the workflow stays Pending with the
  lock's message until every lock is held; a lock that cannot be used fails the workflow
  `Failed to acquire the synchronization lock. <why>`.
- Template level (§5.3 step 9): the node is made with its template's node type, Pending, with
  `synchronizationStatus.waiting` and the message, and is tried again on every plan until it
  gets its locks; then it starts as any other node. A template with a retryStrategy takes its
  locks once, for the Retry node (Argo acquires before it makes the Retry node; it gives the
  waiting node the leaf's type, which we do not copy: ours is `Retry` from the start).
- A holder releases when its node is fulfilled (Execution hook) and all of a workflow's
  holdings go when it completes (Argo's `ReleaseAll`).

Holder keys: `<ns>/<wf>` and `<ns>/<wf>/<nodeID>`; lock keys `<ns>/Mutex/<name>` and
`<ns>/ConfigMap/<cm>/<key>`. `database` locks (shared through SQL between controllers) are not
supported: they are refused with a clear error rather than run unlocked.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol

from tiphys.core.plan.execution import Execution
from tiphys.core.plan.sync_table import Grant, LockRef, LockTable
from tiphys.core.spec import NodeSynchronizationStatus

__all__ = ["LockService", "LocalLocks", "LockSpecError", "lock_refs", "read_limit", "workflow_holder",
           "node_holder", "acquire_workflow", "acquire_node", "retry_waiting", "stop_waiting", "release_all",
           "WAITING", "HELD", "ACQUIRED", "ACQUIRED_AFTER_WAIT", "FAILED", "NODE_TYPES"]

WAITING, HELD, ACQUIRED, ACQUIRED_AFTER_WAIT, FAILED = "waiting", "held", "acquired", "acquired-after-wait", "failed"
NODE_TYPES = {"container": "Pod", "script": "Pod", "containerSet": "Pod", "resource": "Pod", "data": "Pod",
              "steps": "Steps", "dag": "DAG", "suspend": "Suspend", "http": "HTTP", "plugin": "Plugin"}


class LockSpecError(ValueError):
    """A `synchronization` block (or the limit it points at) that cannot be used, naming where."""


class LockService(Protocol):
    def acquire(self, holder: str, refs: tuple[LockRef, ...], /, *, priority: int, created: str) -> Grant: ...

    def release(self, holder: str, /) -> None: ...

    def release_workflow(self, workflow: str, /) -> None: ...

    def holders_of(self, workflow: str, /) -> list[str]: ...


def lock_refs(sync: Any, namespace: str, /, *, where: str) -> tuple[LockRef, ...]:
    """The locks of a `synchronization` block: `mutexes`/`semaphores` and the deprecated singular
    `mutex`/`semaphore` (v3.5 and before), in that order."""
    if not isinstance(sync, dict):
        raise LockSpecError(f"{where}: synchronization must be an object")
    refs: list[LockRef] = []
    mutexes = list(sync.get("mutexes") or []) + ([sync["mutex"]] if sync.get("mutex") else [])
    semaphores = list(sync.get("semaphores") or []) + ([sync["semaphore"]] if sync.get("semaphore") else [])
    for i, m in enumerate(mutexes):
        at = f"{where}.mutexes[{i}]"
        if not isinstance(m, dict) or not m.get("name"):
            raise LockSpecError(f"{at}: a mutex needs a name")
        if m.get("database"):
            raise LockSpecError(f"{at}: database mutexes are not supported by tiphys")
        ns = str(m.get("namespace") or namespace)
        refs.append(LockRef(key=f"{ns}/Mutex/{m['name']}", kind="Mutex", namespace=ns, name=str(m["name"])))
    for i, s in enumerate(semaphores):
        at = f"{where}.semaphores[{i}]"
        if not isinstance(s, dict):
            raise LockSpecError(f"{at}: a semaphore must be an object")
        if s.get("database"):
            raise LockSpecError(f"{at}: database semaphores are not supported by tiphys")
        ref = s.get("configMapKeyRef")
        if not isinstance(ref, dict) or not ref.get("name") or not ref.get("key"):
            raise LockSpecError(f"{at}: configMapKeyRef needs a name and a key")
        ns = str(s.get("namespace") or namespace)
        refs.append(LockRef(key=f"{ns}/ConfigMap/{ref['name']}/{ref['key']}", kind="Semaphore", namespace=ns,
                            configmap=str(ref["name"]), configmap_key=str(ref["key"])))
    return tuple(refs)


def read_limit(ref: LockRef, data: dict | None, /) -> int:
    """A lock's limit: 1 for a mutex; the integer in the ConfigMap key for a semaphore.

    `data` is the ConfigMap's `data` (None: no such ConfigMap). Argo's messages are the client's
    NotFound text and strconv.Atoi's; ours say the same things in words.
    """
    if ref.kind == "Mutex":
        return 1
    if data is None:
        raise LockSpecError(f'configmaps "{ref.configmap}" not found')
    value = data.get(ref.configmap_key)
    if value is None:
        raise LockSpecError(f"key {ref.configmap_key!r} not found in ConfigMap {ref.namespace}/{ref.configmap}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise LockSpecError(f"ConfigMap {ref.namespace}/{ref.configmap} key {ref.configmap_key!r}: "
                            f"limit {value!r} is not an integer") from None


class LocalLocks:
    """A LockService for one process without a controller: limits from a `(ns, name) -> data` reader."""

    def __init__(self, read_configmap: Callable[[str, str], dict | None] = lambda ns, name: None) -> None:
        self.table = LockTable()
        self.read_configmap = read_configmap

    def acquire(self, holder: str, refs: tuple[LockRef, ...], /, *, priority: int, created: str) -> Grant:
        try:
            limited = [(r, read_limit(r, None if r.kind == "Mutex" else self.read_configmap(r.namespace, r.configmap)))
                       for r in refs]
        except LockSpecError as exc:
            return Grant(acquired=False, error=str(exc))
        return self.table.acquire(holder, limited, priority=priority, created=created)

    def release(self, holder: str, /) -> None:
        self.table.release(holder)

    def release_workflow(self, workflow: str, /) -> None:
        self.table.release_workflow(workflow)

    def holders_of(self, workflow: str, /) -> list[str]:
        return self.table.holders_of(workflow)


def workflow_holder(ex: Execution, /) -> str:
    return f"{ex.meta.namespace}/{ex.meta.name}"


def node_holder(ex: Execution, node_id: str, /) -> str:
    return f"{ex.meta.namespace}/{ex.meta.name}/{node_id}"


def _priority(ex: Execution) -> int:
    p = ex.spec.get("priority")
    return p if isinstance(p, int) else 0


def _ask(ex: Execution, holder: str, refs: tuple[LockRef, ...]) -> Grant:
    grant = ex.locks.acquire(holder, refs, priority=_priority(ex), created=ex.meta.creation_timestamp)
    if grant.changed:
        ex.locks_changed = True
    return grant


def acquire_workflow(ex: Execution, /) -> bool:
    """§5.2 step 8: True when the workflow may run (no locks, or all held)."""
    sync = ex.spec.get("synchronization")
    if not sync:
        return True
    wf = ex.workflow
    try:
        refs = lock_refs(sync, ex.meta.namespace, where="spec.synchronization")
    except LockSpecError as exc:
        _fail_workflow(ex, str(exc))
        return False
    grant = _ask(ex, workflow_holder(ex), refs)
    if grant.error:
        _fail_workflow(ex, grant.error)
        return False
    if not grant.acquired:
        if ex.spec.get("shutdown") == "Terminate":
            # Argo's releaseLocksForPendingShuttingdownWfs: a waiter being terminated leaves the queue
            # and goes on unlocked, to be stopped at once (Stop keeps waiting, as in Argo)
            ex.locks.release_workflow(workflow_holder(ex))
            return True
        wf.set(phase="Pending", message=grant.message)
        return False
    ex.workflow_lock_held = True
    if wf.message.startswith("Waiting for "):
        wf.set(message="")
    return True


def _fail_workflow(ex: Execution, why: str) -> None:
    wf = ex.workflow
    wf.set(phase="Failed", message=f"Failed to acquire the synchronization lock. {why}",
           started_at=wf.started_at or ex.now, finished_at=ex.now)
    wf.conditions = [c for c in wf.conditions if c.get("type") != "Completed"] + [
        {"type": "Completed", "status": "True"}]


def acquire_node(ex: Execution, call: Any, node_id: str, template: dict, kind: str, /, *,
                 retried: bool, node_kwargs: dict, inputs: dict) -> str:
    """§5.3 step 9 for one call: WAITING (node Pending), FAILED (node Error), HELD (the node had
    its locks before: a re-walk), ACQUIRED (new node may start) or ACQUIRED_AFTER_WAIT."""
    existing = ex.nodes.get(node_id)
    was_waiting = node_id in ex.lock_waiting or bool(
        existing is not None and existing.synchronization_status is not None
        and existing.synchronization_status.waiting)
    if existing is not None and not was_waiting:
        return HELD
    node_type = "Retry" if retried else NODE_TYPES.get(kind, "Pod")
    holder = node_holder(ex, node_id)
    try:
        refs = lock_refs(template.get("synchronization"), ex.meta.namespace,
                         where=f"templates.{template.get('name') or call.name}.synchronization")
        grant = _ask(ex, holder, refs)
        if grant.error:
            raise LockSpecError(grant.error)
    except LockSpecError as exc:
        ex.lock_waiting.pop(node_id, None)
        ex.locks.release(holder)
        if existing is None:
            ex.init_node(call.name, node_type, phase="Error", message=str(exc), inputs=inputs, **node_kwargs)
        else:
            ex.update(node_id, phase="Error", message=str(exc), synchronization_status=None,
                      task_result_synced=True)
        return FAILED
    if not grant.acquired:
        ex.lock_waiting[node_id] = call
        _index(ex, node_id, grant.lock)
        waiting = NodeSynchronizationStatus(waiting=grant.lock)
        if existing is None:
            ex.init_node(call.name, node_type, phase="Pending", message=grant.message, inputs=inputs, **node_kwargs)
        ex.update(node_id, message=grant.message, synchronization_status=waiting)
        return WAITING
    ex.lock_waiting.pop(node_id, None)
    ex.lock_holders[node_id] = holder
    if existing is None:
        return ACQUIRED
    # composite nodes start Running; a pod node stays Pending until its pod runs
    ex.update(node_id, message=None, synchronization_status=None,
              phase="Pending" if existing.type_ == "Pod" else "Running")
    return ACQUIRED_AFTER_WAIT


def _index(ex: Execution, node_id: str, lock: str) -> None:
    """Waiting nodes by the lock they wait for, first asked first (`retry_waiting` reads the fronts)."""
    by_lock = ex.waiting_by_lock
    for key, waiters in by_lock.items():
        if key != lock and node_id in waiters:
            del waiters[node_id]  # it now waits for another of its locks
    by_lock.setdefault(lock, {})[node_id] = None


def retry_waiting(ex: Execution, execute: Callable[[Execution, Any], str], /) -> None:
    """Waiting nodes try again, per lock in the order they first asked, until the lock refuses
    one: the cost is the locks plus the nodes that start, not the waiters (a 50,000-node fan-out
    behind one mutex asks once per event)."""
    by_lock = ex.waiting_by_lock
    for lock in list(by_lock):
        waiters = by_lock[lock]
        while waiters:
            node_id = next(iter(waiters))
            call = ex.lock_waiting.get(node_id)
            if call is None:  # ended while waiting (timeout, shutdown) or already started
                del waiters[node_id]
                continue
            execute(ex, call)
            if node_id in ex.lock_waiting:
                if node_id in waiters:
                    break  # refused: the ones behind it wait too
                continue  # moved to another lock's queue
            waiters.pop(node_id, None)
        if not waiters:
            by_lock.pop(lock, None)


def stop_waiting(ex: Execution, message: str, /) -> None:
    """Shutdown or deadline: lock waiters fail (they have no pod to stop) and leave the queues."""
    for node_id in list(ex.lock_waiting):
        del ex.lock_waiting[node_id]
        ex.locks.release(node_holder(ex, node_id))
        ex.update(node_id, phase="Failed", message=message, synchronization_status=None, task_result_synced=True)


def release_all(ex: Execution, /) -> None:
    """The workflow completed: every lock it holds or waits for goes (Argo's ReleaseAll)."""
    if ex.workflow_lock_held or ex.lock_holders or ex.lock_waiting:
        ex.locks_changed = True
    ex.locks.release_workflow(workflow_holder(ex))
    ex.workflow_lock_held = False
    ex.lock_holders.clear()
    ex.lock_waiting.clear()
    ex.waiting_by_lock.clear()
