"""The pure parts of synchronization: the lock table's order and status, the spec parsing, and the
planner's waiting and release through a LockService shared by two Executions."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from tiphys.core.plan import sync
from tiphys.core.plan.meta import WorkflowMeta
from tiphys.core.plan.planner import Observed, new_execution, plan
from tiphys.core.plan.sync_table import LockRef, LockTable, workflow_of

M = LockRef(key="ns/Mutex/m", kind="Mutex", namespace="ns", name="m")
S = LockRef(key="ns/ConfigMap/cm/k", kind="Semaphore", namespace="ns", configmap="cm", configmap_key="k")


def test_mutex_goes_to_the_first_and_the_second_waits_with_argos_message():
    t = LockTable()
    assert t.acquire("ns/a", [(M, 1)]).acquired
    g = t.acquire("ns/b", [(M, 1)], created="2026-01-01T00:00:01Z")
    assert not g.acquired and g.lock == "ns/Mutex/m"
    assert g.message == "Waiting for ns/Mutex/m lock. Lock status: 0/1"
    assert t.acquire("ns/a", [(M, 1)]).acquired  # a holder asking again keeps it, nothing changes
    assert not t.acquire("ns/a", [(M, 1)]).changed
    assert t.release("ns/a") == ["ns/b"]
    assert t.acquire("ns/b", [(M, 1)]).acquired


def test_waiters_by_priority_then_creation_time_then_first_asked():
    t = LockTable()
    t.acquire("ns/holder", [(M, 1)])
    t.acquire("ns/old-low", [(M, 1)], priority=0, created="2026-01-01T00:00:00Z")
    t.acquire("ns/new-low", [(M, 1)], priority=0, created="2026-01-01T00:00:09Z")
    t.acquire("ns/new-high", [(M, 1)], priority=3, created="2026-01-01T00:00:09Z")
    t.acquire("ns/w/n2", [(M, 1)], priority=0, created="2026-01-01T00:00:00Z")
    order = []
    holder = "ns/holder"
    for _ in range(4):
        woken = t.release(holder)
        assert len(woken) == 1
        # the woken workflow's holder is the only one that may take the lock now
        candidates = [h for h in ("ns/old-low", "ns/new-low", "ns/new-high", "ns/w/n2") if workflow_of(h) == woken[0]]
        for other in ("ns/old-low", "ns/new-low", "ns/new-high", "ns/w/n2"):
            if other not in candidates and other not in order:
                assert not t.acquire(other, [(M, 1)]).acquired
        holder = candidates[0]
        assert t.acquire(holder, [(M, 1)]).acquired
        order.append(holder)
    assert order == ["ns/new-high", "ns/old-low", "ns/w/n2", "ns/new-low"]


def test_all_locks_or_none():
    t = LockTable()
    t.acquire("ns/a", [(M, 1)])
    g = t.acquire("ns/b", [(S, 2), (M, 1)])
    assert not g.acquired and g.lock == M.key
    assert t.status_of("ns/b") == {"mutex": {"waiting": [{"mutex": M.key, "holder": "ns/a"}]},
                                   "semaphore": {"waiting": [{"semaphore": S.key, "holders": []}]}}
    assert t.holders_of("ns/b") == []  # the free semaphore was not taken on its own
    t.release("ns/a")
    assert t.acquire("ns/b", [(S, 2), (M, 1)]).acquired
    assert t.status_of("ns/b") == {"mutex": {"holding": [{"mutex": M.key, "holder": "b"}]},
                                   "semaphore": {"holding": [{"semaphore": S.key, "holders": ["b"]}]}}


def test_status_names_node_holders_by_node_id_and_waiters_by_full_key():
    t = LockTable()
    t.acquire("ns/wf/wf-1", [(S, 2)])
    t.acquire("ns/wf/wf-2", [(S, 2)])
    t.acquire("ns/other", [(S, 2)])
    assert t.status_of("ns/wf") == {"semaphore": {"holding": [{"semaphore": S.key, "holders": ["wf-1", "wf-2"]}]}}
    assert t.status_of("ns/other") == {"semaphore": {"waiting": [
        {"semaphore": S.key, "holders": ["ns/wf/wf-1", "ns/wf/wf-2"]}]}}
    assert t.status_of("ns/nobody") is None


def test_raising_a_limit_names_the_waiters_that_now_fit_and_lowering_keeps_holders():
    t = LockTable()
    t.acquire("ns/a", [(S, 1)])
    t.acquire("ns/b", [(S, 1)])
    t.acquire("ns/c", [(S, 1)])
    assert t.set_limit(S.key, 1) == []
    assert t.set_limit(S.key, 3) == ["ns/b", "ns/c"]
    assert t.acquire("ns/b", [(S, 3)]).acquired
    assert t.acquire("ns/d", [(S, 1)]).message == "Waiting for ns/ConfigMap/cm/k lock. Lock status: -1/1"
    assert t.holders_of("ns/a") == ["ns/a"]


def test_release_workflow_drops_holdings_and_queue_places_and_wakes_others():
    t = LockTable()
    t.acquire("ns/w/n1", [(M, 1)])
    t.acquire("ns/w/n2", [(M, 1)])
    t.acquire("ns/x", [(M, 1)])
    assert t.release_workflow("ns/w") == ["ns/x"]
    assert t.status_of("ns/w") is None
    assert t.acquire("ns/x", [(M, 1)]).acquired


def test_hold_restores_a_holding_unconditionally():
    t = LockTable()
    t.hold("ns/a", M, 1)
    assert not t.acquire("ns/b", [(M, 1)]).acquired


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["acquire", "release"]), st.integers(0, 5), st.integers(1, 3)),
                max_size=60))
def test_never_more_holders_than_the_limit(ops):
    t = LockTable()
    for op, who, limit in ops:
        holder = f"ns/w{who}"
        if op == "acquire":
            t.acquire(holder, [(S, 2)], priority=who % 2)
        else:
            t.release(holder)
        assert len(t.locks[S.key].holders) <= 2 if S.key in t.locks else op == "release"


def test_lock_refs_reads_plural_and_deprecated_singular_forms_and_namespaces():
    refs = sync.lock_refs({"mutexes": [{"name": "a"}, {"name": "b", "namespace": "other"}],
                           "semaphore": {"configMapKeyRef": {"name": "cm", "key": "k"}}}, "ns", where="x")
    assert [r.key for r in refs] == ["ns/Mutex/a", "other/Mutex/b", "ns/ConfigMap/cm/k"]
    assert [r.key for r in sync.lock_refs({"mutex": {"name": "old"}}, "ns", where="x")] == ["ns/Mutex/old"]


@pytest.mark.parametrize("bad, text", [
    ({"mutexes": [{}]}, "spec.synchronization.mutexes[0]: a mutex needs a name"),
    ({"semaphores": [{"configMapKeyRef": {"name": "cm"}}]}, "spec.synchronization.semaphores[0]: configMapKeyRef"),
    ({"mutexes": [{"name": "m", "database": True}]}, "database mutexes are not supported"),
    ({"semaphores": [{"database": {"key": "k"}}]}, "database semaphores are not supported"),
    ("x", "spec.synchronization: synchronization must be an object"),
])
def test_lock_refs_refuses_what_it_cannot_lock_naming_the_place(bad, text):
    with pytest.raises(sync.LockSpecError, match=text.replace("[", r"\[").replace("]", r"\]")):
        sync.lock_refs(bad, "ns", where="spec.synchronization")


def test_read_limit_errors():
    assert sync.read_limit(M, None) == 1
    assert sync.read_limit(S, {"k": " 3 "}) == 3
    with pytest.raises(sync.LockSpecError, match='configmaps "cm" not found'):
        sync.read_limit(S, None)
    with pytest.raises(sync.LockSpecError, match="key 'k' not found in ConfigMap ns/cm"):
        sync.read_limit(S, {})
    with pytest.raises(sync.LockSpecError, match="limit 'two' is not an integer"):
        sync.read_limit(S, {"k": "two"})


# -- the planner through a shared LockService ---------------------------------------------------

def _execution(name: str, spec: dict, locks: sync.LocalLocks, created: str = "2026-01-01T00:00:00Z"):
    meta = WorkflowMeta(name=name, namespace="ns", uid=f"uid-{name}", creation_timestamp=created)
    return new_execution(meta, spec, {}, {}, locks=locks)


def _spec(sync_block: dict | None = None, template_sync: dict | None = None, n: int = 1) -> dict:
    leaf = {"name": "leaf", "container": {"image": "busybox", "command": ["true"]}}
    if template_sync:
        leaf["synchronization"] = template_sync
    spec = {"entrypoint": "main", "templates": [
        {"name": "main", "steps": [[{"name": "s", "template": "leaf", "withParam": str(list(range(n)))}]]}, leaf]}
    if sync_block:
        spec["synchronization"] = sync_block
    return spec


def _pods(result) -> list:
    return [a for a in result.actions if type(a).__name__ == "CreatePod"]


def test_workflow_level_waiter_stays_pending_until_the_holder_completes():
    locks = sync.LocalLocks()
    a = _execution("a", _spec({"mutexes": [{"name": "m"}]}), locks)
    b = _execution("b", _spec({"mutexes": [{"name": "m"}]}), locks, created="2026-01-01T00:00:05Z")
    ra = plan(a, Observed(), 100.0)
    assert _pods(ra) and a.workflow.phase == "Running" and ra.status_changed
    rb = plan(b, Observed(), 100.0)
    assert not _pods(rb) and b.nodes == {}
    assert (b.workflow.phase, b.workflow.message) == ("Pending", "Waiting for ns/Mutex/m lock. Lock status: 0/1")
    assert not b.workflow.started_at
    sync.release_all(a)  # what the exit handler does when `a` completes
    rb = plan(b, Observed(), 101.0)
    assert _pods(rb) and b.workflow.phase == "Running" and b.workflow.message == ""


def test_template_level_waiters_are_pending_nodes_with_sync_status_and_start_after_release():
    locks = sync.LocalLocks()
    ex = _execution("w", _spec(template_sync={"mutexes": [{"name": "m"}]}, n=3), locks)
    r = plan(ex, Observed(), 100.0)
    assert len(_pods(r)) == 1
    waiting = [n for n in ex.nodes.values() if n.synchronization_status is not None]
    assert len(waiting) == 2
    assert all(n.type_ == "Pod" and n.phase == "Pending" and n.synchronization_status.waiting == "ns/Mutex/m"
               and n.message == "Waiting for ns/Mutex/m lock. Lock status: 0/1" for n in waiting)
    holder = _pods(r)[0].node_id
    assert locks.holders_of("ns/w") == [f"ns/w/{holder}"]
    # the holder's node is fulfilled: its lock goes and the next waiter starts in the same plan
    ex.update(holder, phase="Succeeded", task_result_synced=True)
    assert locks.holders_of("ns/w") == []
    r = plan(ex, Observed(), 101.0)
    assert len(_pods(r)) == 1
    started = ex.nodes[_pods(r)[0].node_id]
    assert started.synchronization_status is None and started.message is None
    assert started.task_result_synced is False  # the outputs gate applies as to any new pod node


def test_bad_template_lock_is_a_node_error_and_bad_workflow_lock_fails_the_workflow():
    locks = sync.LocalLocks()
    ex = _execution("t", _spec(template_sync={"semaphores": [{"configMapKeyRef": {"name": "cm", "key": "k"}}]}),
                    locks)
    plan(ex, Observed(), 100.0)
    errors = [n for n in ex.nodes.values() if n.type_ == "Pod"]
    assert [(n.phase, n.message) for n in errors] == [("Error", 'configmaps "cm" not found')]
    wf = _execution("f", _spec({"semaphores": [{"configMapKeyRef": {"name": "cm", "key": "k"}}]}), locks)
    plan(wf, Observed(), 100.0)
    assert (wf.workflow.phase, wf.workflow.message) == (
        "Failed", 'Failed to acquire the synchronization lock. configmaps "cm" not found')


def test_a_waiter_that_ends_while_waiting_leaves_the_queue_and_blocks_no_one():
    locks = sync.LocalLocks()
    a = _execution("a", _spec(template_sync={"mutexes": [{"name": "m"}]}, n=2), locks)
    plan(a, Observed(), 100.0)
    b = _execution("b", _spec({"mutexes": [{"name": "m"}]}), locks, created="2026-01-01T00:00:05Z")
    waiting = next(n.id_ for n in a.nodes.values() if n.synchronization_status is not None)
    holder = next(h for h in locks.holders_of("ns/a"))
    plan(b, Observed(), 100.0)
    a.update(waiting, phase="Failed", message="timeout")  # e.g. its template `timeout` while Pending
    assert waiting not in a.lock_waiting
    locks.release(holder)
    assert _pods(plan(b, Observed(), 101.0))  # `a`'s ended waiter is not in front of `b`


def test_a_suspended_workflow_starts_no_waiter_that_could_now_run():
    locks = sync.LocalLocks()
    ex = _execution("s", _spec(template_sync={"mutexes": [{"name": "m"}]}, n=2), locks)
    first = _pods(plan(ex, Observed(), 100.0))[0].node_id
    ex.spec = {**ex.spec, "suspend": True}
    ex.update(first, phase="Succeeded", task_result_synced=True)
    assert not _pods(plan(ex, Observed(), 101.0))
    ex.spec = {**ex.spec, "suspend": None}
    assert len(_pods(plan(ex, Observed(), 102.0))) == 1


def test_a_retried_template_takes_its_lock_once_for_the_retry_node():
    locks = sync.LocalLocks()
    spec = _spec(template_sync={"mutexes": [{"name": "m"}]}, n=2)
    spec["templates"][1]["retryStrategy"] = {"limit": 2}
    ex = _execution("r", spec, locks)
    r = plan(ex, Observed(), 100.0)
    assert len(_pods(r)) == 1
    waiting = [n for n in ex.nodes.values() if n.synchronization_status is not None]
    assert [(n.type_, n.phase) for n in waiting] == [("Retry", "Pending")]
    attempt = ex.nodes[_pods(r)[0].node_id]
    retry_node = next(n for n in ex.nodes.values() if n.type_ == "Retry" and attempt.id_ in (n.children or ()))
    assert locks.holders_of("ns/r") == [f"ns/r/{retry_node.id_}"]
    # the attempt fails: the retry goes on under the same lock, the other Retry node still waits
    ex.update(attempt.id_, phase="Failed", task_result_synced=True)
    r = plan(ex, Observed(), 101.0)
    assert [ex.nodes[p.node_id].name for p in _pods(r)] == [retry_node.name + "(1)"]
    assert locks.holders_of("ns/r") == [f"ns/r/{retry_node.id_}"]
    assert waiting[0].id_ in ex.lock_waiting
    # the retried template succeeds: its Retry node is fulfilled, the waiting one runs as a Retry
    ex.update(_pods(r)[0].node_id, phase="Succeeded", task_result_synced=True)
    r = plan(ex, Observed(), 102.0)
    assert [ex.nodes[p.node_id].name for p in _pods(r)] == [waiting[0].name + "(0)"]
    assert ex.nodes[waiting[0].id_].phase == "Running" and ex.nodes[waiting[0].id_].synchronization_status is None
    assert locks.holders_of("ns/r") == [f"ns/r/{waiting[0].id_}"]


def test_a_waiting_workflow_terminated_leaves_the_queue_and_ends_without_running():
    locks = sync.LocalLocks()
    a = _execution("a", _spec({"mutexes": [{"name": "m"}]}), locks)
    plan(a, Observed(), 100.0)
    b = _execution("b", _spec({"mutexes": [{"name": "m"}]}), locks, created="2026-01-01T00:00:05Z")
    c = _execution("c", _spec({"mutexes": [{"name": "m"}]}), locks, created="2026-01-01T00:00:09Z")
    plan(b, Observed(), 100.0)
    plan(c, Observed(), 100.0)
    b.spec = {**b.spec, "shutdown": "Stop"}
    plan(b, Observed(), 101.0)
    assert b.workflow.phase == "Pending"  # Stop: still waits, as in Argo
    b.spec = {**b.spec, "shutdown": "Terminate"}
    r = plan(b, Observed(), 102.0)
    assert not _pods(r)
    assert (b.workflow.phase, b.workflow.message) == ("Failed", "Stopped with strategy 'Terminate'")
    assert locks.table.status_of("ns/b") is None
    sync.release_all(a)
    assert _pods(plan(c, Observed(), 103.0))  # `b` is no longer in front of `c`
