"""The state of one running workflow, as the planner sees it, and the node operations on it.

An `Execution` lives as long as the controller holds the workflow (one per uid and generation)
and is rebuilt from `status.nodes` after a restart. It owns:
- `nodes`: node id -> NodeStatus (frozen Structs; a change replaces the entry and records the id
  in `changed`, so the status writer re-encodes only what changed);
- `frames`: the live state of every unfinished composite node (steps, DAG, loop group, retry);
- `waiters`: child node id -> the frame that waits for it, so an event wakes exactly one frame;
- `wake`: frames to re-evaluate in this plan step.

Nothing here walks the whole tree: a pod event updates one node and wakes one frame; a frame
that finishes wakes its own parent. That is what keeps a pod event's cost independent of the
workflow's size (Argo re-walks every node each reconcile).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Protocol

import msgspec

from tiphys.core.plan.actions import Action
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.spec import NodeFlag, NodeStatus, Outputs
from tiphys.core.status import ids

__all__ = ["Execution", "Frame", "FULFILLED", "COMPLETED", "FAILED_OR_ERROR", "continues_on"]

COMPLETED = frozenset({"Succeeded", "Failed", "Error"})
FULFILLED = COMPLETED | {"Skipped", "Omitted"}
FAILED_OR_ERROR = frozenset({"Failed", "Error"})
_PROGRESS_TYPES = frozenset({"Pod", "Container", "Suspend", "HTTP", "Plugin"})
_DONE = frozenset({"Succeeded", "Skipped", "Omitted"})
LEAF_TYPES = frozenset({"Pod", "Skipped", "Suspend", "HTTP", "Plugin", "Container"})


class Frame(Protocol):
    node_id: str

    def evaluate(self, ex: "Execution") -> None:
        """Advance: take finished children into account, start what is now runnable."""

    def child_done(self, ex: "Execution", child_id: str, slot: Any) -> None:
        """Record that a child this frame waits for reached a fulfilled phase."""


class Execution:
    def __init__(self, meta: WorkflowMeta, spec: dict, nodes: dict[str, NodeStatus], /, *,
                 settings: PodSettings = PodSettings(), stored_templates: dict[str, dict] | None = None,
                 library: Any = None, configmaps: Any = None, locks: Any = None, memo_caches: Any = None) -> None:
        self.meta = meta
        self.spec = spec
        self.settings = settings
        self.nodes: dict[str, NodeStatus] = dict(nodes)
        self.changed: set[str] = set()
        self.actions: list[Action] = []
        self.frames: dict[str, Frame] = {}
        self.waiters: dict[str, tuple[Frame, Any]] = {}
        self.wake: deque[Frame] = deque()
        self._woken: set[str] = set()
        self.stored_templates: dict[str, dict] = dict(stored_templates or {})
        self.library = library  # resolves templateRef: (name, template, cluster) -> template dict | None
        self.configmaps = configmaps  # reads parameter ConfigMaps: (name, key) -> str | None
        self.memo_caches = memo_caches  # memoize caches: ConfigMap name -> the ConfigMap | None (memo.py)
        self.memo_written: dict[tuple[str, str], dict] = {}  # (ConfigMap, key) -> the entry we saved last
        self.memo_retry: list[Action] = []  # SaveMemo actions to issue again (refused, or lost in a crash)
        self.locks = locks  # sync.LockService: mutexes and semaphores shared with other workflows
        self.lock_holders: dict[str, str] = {}  # node id -> its holder key, released when the node is fulfilled
        self.lock_waiting: dict[str, Any] = {}  # node id -> the Call to try again when it waits for a lock
        self.waiting_by_lock: dict[str, dict[str, None]] = {}  # lock -> waiting node ids, first asked first
        self.workflow_lock_held = False
        self.locks_changed = False  # holdings changed in this plan: status.synchronization to write now
        self.global_outputs: dict[str, Any] = {}
        self.global_artifacts: dict[str, Any] = {}
        self.now = ""  # RFC3339 of the current plan step
        self.now_ts = 0.0
        self.requeue_at: float | None = None
        self.templates: dict[str, dict] = {t.get("name"): t for t in spec.get("templates") or [] if isinstance(t, dict)}
        self.pods_active = 0
        self.leaf_of_pod: dict[str, str] = {}  # pod name -> node id
        self.pod_templates: dict[str, dict] = {}  # node id -> the substituted template of its pod
        self.deferred: deque[Callable[[], bool]] = deque()  # starts held back by parallelism
        self.global_scope: dict[str, Any] = {}
        self.suspended = False
        self.shutting_down = False
        self.past_deadline = False
        self.deadline_text: str | None = None
        self.adopted: list[Any] = []
        self.suspends: dict[str, float] = {}  # suspend node id -> resume time
        self.active_suspends: set[str] = set()  # Running Suspend nodes, timed or not (resumed by clients)
        self.was_suspended = False
        self.awaiting_outputs: dict[str, float] = {}  # succeeded pod node id -> give-up time
        self._compiled: dict[Any, Any] = {}
        self._child_sets: dict[str, set[str]] = {}
        self.stored_workflow_template_spec: dict | None = None
        self.parked: dict[str, tuple[str, dict]] = {}
        # actions decided between plans (a client's resume fulfilling a node): the next plan returns them
        self.carried_actions: list[Action] = []
        self.retry_creates: list[Action] = []  # pod creates the applier could not make: issue again  # observations for nodes not (re)created yet
        self.signalled: dict[str, tuple[str, ...]] = {}  # pod name -> containers already told to stop
        self.pod_of_node: dict[str, tuple[str, str, str, dict]] = {}  # node id -> (pod, uid, pod phase, labels)
        self.timeouts: list[tuple[float, str]] = []  # heap of (template deadline, Pending node id)
        self.pod_gc: Any = None  # podgc.PodGCQueue when the workflow has a podGC strategy
        self.http: Any = None  # http.HttpNodes once the workflow has an HTTP node (task set, agent pod)
        self.claims_waiting = False  # volumeClaimTemplates PVCs not all made yet: nothing starts
        self.salts: dict[str, int] = {}  # node name -> salt of its ID, for the rare hash collision
        # node id -> called on each phase change of that node (lifecycle hooks re-judge their expression)
        self.phase_watch: dict[str, Callable[["Execution", str], None]] = {}
        self.metric_watch: dict[str, list] = {}  # node id -> its template's metrics, until fulfilled (metrics.py)
        self.metrics_started = False  # the workflow's real-time gauges were emitted by this Execution
        self.leaves_total = sum(1 for n in self.nodes.values() if n.type_ in _PROGRESS_TYPES)
        self.leaves_done = sum(1 for n in self.nodes.values() if n.type_ in _PROGRESS_TYPES and n.phase in _DONE)

    # -- identity -----------------------------------------------------------------------------

    def node_id(self, name: str) -> str:
        salt = self.salts.get(name)
        if salt is not None:
            return ids.node_id(self.meta.name, name, salt=salt)
        node_id = ids.node_id(self.meta.name, name)
        node = self.nodes.get(node_id)
        if node is None or node.name == name:
            return node_id
        return ids.node_id(self.meta.name, name, salt=self._salt(name))

    def _salt(self, name: str) -> int:
        """The salt of a name whose hash another node holds (ids module docstring): the first k
        whose ID is free or already this name's. Found again by probing after a restart."""
        k = 1
        while True:
            node = self.nodes.get(ids.node_id(self.meta.name, name, salt=k))
            if node is None or node.name == name:
                self.salts[name] = k
                return k
            k += 1

    def get(self, node_id: str) -> NodeStatus | None:
        return self.nodes.get(node_id)

    # -- time ---------------------------------------------------------------------------------

    def requeue(self, at: float) -> None:
        if self.requeue_at is None or at < self.requeue_at:
            self.requeue_at = at

    # -- node operations ----------------------------------------------------------------------

    def init_node(self, name: str, node_type: str, *, boundary_id: str, phase: str = "Pending",
                  template: dict | None = None, template_name: str = "", template_ref: dict | None = None,
                  message: str = "", inputs: dict | None = None, hooked: bool = False, retried: bool = False,
                  display_name: str | None = None, template_scope: str = "") -> NodeStatus:
        node_id = self.node_id(name)
        existing = self.nodes.get(node_id)
        if existing is not None:
            return existing
        boundary = self.nodes.get(boundary_id) if boundary_id else None
        flag = NodeFlag(hooked=True if hooked else None, retried=True if retried else None) \
            if hooked or retried else None
        node = NodeStatus(
            id_=node_id, name=name,
            display_name=display_name or ids.display_name(name, boundary.name if boundary else None),
            type_=node_type, template_name=template_name or None,
            template_ref=msgspec.convert(template_ref, type=_TemplateRef) if template_ref else None,
            template_scope=template_scope or f"local/{self.meta.name}",
            phase=phase, boundary_id=boundary_id or None, message=message or None,
            started_at=self.now, node_flag=flag,
            inputs=msgspec.convert(inputs, type=_Inputs) if inputs else None,
            progress="0/1" if node_type in ("Pod", "Container", "Suspend", "HTTP", "Plugin") else None,
            task_result_synced=True if node_type == "Pod" else None,
        )
        if phase in FULFILLED:
            node = msgspec.structs.replace(node, finished_at=self.now,
                                           progress="1/1" if node.progress else None)
        self._put(node)
        return node

    def update(self, node_id: str, **changes: Any) -> NodeStatus:
        """Replace fields of a node. A node that is already fulfilled never changes phase again."""
        node = self.nodes[node_id]
        was_fulfilled = self.fulfilled(node_id)
        phase = changes.get("phase")
        if phase is not None and node.phase in FULFILLED and phase != node.phase:
            changes.pop("phase")
            phase = None
        if phase is not None and phase in FULFILLED and node.phase not in FULFILLED:
            changes.setdefault("finished_at", self.now)
            if node.progress is not None and phase in ("Succeeded", "Skipped", "Omitted"):
                changes.setdefault("progress", "1/1")
        if not changes:
            return node
        new = msgspec.structs.replace(node, **changes)
        if new == node:
            return node
        self._put(new)
        if not was_fulfilled and self.fulfilled(node_id):
            if new.memoization_status is not None and new.phase == "Succeeded":
                from tiphys.core.plan.memo import saved  # a memoized miss that Succeeded: save its outputs

                saved(self, self.nodes[node_id])
            self._fulfilled(node_id)
        return new

    def _put(self, node: NodeStatus) -> None:
        old = self.nodes.get(node.id_)
        self.nodes[node.id_] = node
        self.changed.add(node.id_)
        if self.phase_watch and node.id_ in self.phase_watch and (old is None or old.phase != node.phase):
            self.phase_watch[node.id_](self, node.id_)
        if old is None and self.metric_watch and node.id_ in self.metric_watch:
            from tiphys.core.plan.metrics import node_created  # real-time gauges of a new node

            node_created(self, node.id_)
        if node.type_ in _PROGRESS_TYPES:  # keep status.progress without walking the nodes
            if old is None:
                self.leaves_total += 1
            self.leaves_done += (node.phase in _DONE) - (old is not None and old.phase in _DONE)

    @property
    def progress(self) -> str:
        return f"{self.leaves_done}/{self.leaves_total}" if self.leaves_total else ""

    def add_child(self, parent_id: str, child_id: str) -> None:
        """Link a child; O(1) however many children the parent has (a 50k fan-out links 50k times)."""
        parent = self.nodes.get(parent_id)
        if parent is None:
            return
        known = self._child_sets.get(parent_id)
        if known is None:
            known = self._child_sets[parent_id] = set(parent.children or ())
        if child_id in known:
            return
        known.add(child_id)
        children = parent.children
        if children is None:
            children = []
            parent = msgspec.structs.replace(parent, children=children)
        children.append(child_id)  # the list is this Execution's own; a new Struct marks the change
        self._put(msgspec.structs.replace(parent))

    def fulfilled(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        if node is None:
            return False
        if node.daemoned and node.phase != "Pending":
            return True
        return node.phase in FULFILLED and node.task_result_synced is not False

    # -- frames and waking --------------------------------------------------------------------

    def wait_for(self, child_id: str, frame: Frame, slot: Any = None) -> None:
        """`frame` is told (once) when `child_id` is fulfilled; already fulfilled -> told now."""
        self.waiters[child_id] = (frame, slot)
        if self.fulfilled(child_id):
            self._fulfilled(child_id)

    def _fulfilled(self, node_id: str) -> None:
        if not self.fulfilled(node_id):
            return
        waiter = self.waiters.pop(node_id, None)
        if waiter is not None:
            frame, slot = waiter
            frame.child_done(self, node_id, slot)
            self.schedule(frame)
        self.frames.pop(node_id, None)
        if self.metric_watch and node_id in self.metric_watch:
            from tiphys.core.plan.metrics import node_fulfilled  # once: the entry leaves metric_watch

            node_fulfilled(self, node_id)
        holder = self.lock_holders.pop(node_id, None)
        if holder is None and self.lock_waiting.pop(node_id, None) is not None:
            holder = f"{self.meta.namespace}/{self.meta.name}/{node_id}"  # ended waiting (a timeout): leave the queue
        if holder is not None:  # a template-level lock goes when its node is fulfilled (sync.py)
            self.locks.release(holder)
            self.locks_changed = True
        if self.nodes[node_id].type_ == "Pod" and self.pods_active > 0 and node_id in self.pod_templates:
            self.pods_active -= 1
            self.pod_templates.pop(node_id, None)

    def notify_synced(self, node_id: str) -> None:
        """A node's task result arrived after its phase was final: it may be fulfilled only now."""
        self._fulfilled(node_id)

    def schedule(self, frame: Frame) -> None:
        if frame.node_id not in self._woken:
            self._woken.add(frame.node_id)
            self.wake.append(frame)

    def run_frames(self) -> None:
        """Evaluate woken frames until none is left (a finishing frame wakes its parent)."""
        budget = 10 * (len(self.frames) + len(self.wake) + 16)
        while self.wake and budget > 0:
            budget -= 1
            frame = self.wake.popleft()
            self._woken.discard(frame.node_id)
            if frame.node_id in self.frames:
                frame.evaluate(self)
        self._retry_deferred()

    def _retry_deferred(self) -> None:
        for _ in range(len(self.deferred)):
            start = self.deferred.popleft()
            if not start():
                self.deferred.append(start)
                break

    # -- limits and caches --------------------------------------------------------------------

    def spec_parallelism_reached(self) -> bool:
        limit = self.spec.get("parallelism")
        return isinstance(limit, int) and limit > 0 and self.pods_active >= limit

    def compile_once(self, key: Any, compile_fn: Callable[..., Any], *args: Any) -> Any:
        """Compile a template's graph once per Execution (one per workflow uid and generation)."""
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = compile_fn(*args)
        return compiled

    def publish_globals(self, template: dict, outputs: Outputs | None) -> None:
        from tiphys.core.plan.outputs import global_exports

        params, arts = global_exports(template, outputs)
        for name, value in params.items():
            self.global_outputs[name] = value
            self.global_scope[f"workflow.outputs.parameters.{name}"] = value
        for name, art in arts.items():
            self.global_artifacts[name] = art
            self.global_scope[f"workflow.outputs.artifacts.{name}"] = art

    def publish_leaf_globals(self, node_id: str) -> None:
        template = self.pod_templates.get(node_id)
        if template is not None:
            self.publish_globals(template, self.nodes[node_id].outputs)

    # -- outputs ------------------------------------------------------------------------------

    def outputs_of(self, node_id: str) -> Outputs | None:
        node = self.nodes.get(node_id)
        if node is None:
            return None
        if node.type_ == "Retry" and node.children:
            attempts = [c for c in node.children if not _hooked(self.nodes.get(c))]
            if attempts:
                return self.outputs_of(attempts[-1]) or node.outputs
        return node.outputs

    def outbound(self, node_id: str) -> list[str]:
        """`getOutboundNodes`: the nodes whose completion ends this node's subtree."""
        node = self.nodes.get(node_id)
        if node is None:
            return []
        t = node.type_
        if t in ("Pod", "Skipped", "Suspend", "HTTP", "Plugin"):
            return [node_id]
        if t in ("TaskGroup", "Container"):
            out: list[str] = []
            for c in node.children or ():
                if not _hooked(self.nodes.get(c)):
                    out.extend(self.outbound(c))
            return out or [node_id]
        if t == "Retry":
            attempts = [c for c in node.children or () if not _hooked(self.nodes.get(c))]
            return [attempts[-1]] if attempts else [node_id]
        if node.outbound_nodes:
            return list(node.outbound_nodes)
        return [node_id]


def continues_on(step: dict, phase: str) -> bool:
    """`continueOn.failed` covers a Failed step or task, `continueOn.error` an Errored one."""
    cont = step.get("continueOn") or {}
    return bool(cont.get("failed") if phase == "Failed" else cont.get("error"))


def _hooked(node: NodeStatus | None) -> bool:
    return bool(node is not None and node.node_flag is not None and node.node_flag.hooked)


from tiphys.core.spec import Inputs as _Inputs, TemplateRef as _TemplateRef  # noqa: E402
