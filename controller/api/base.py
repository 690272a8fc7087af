"""The API boundary: one small async interface over a Kubernetes-style API server.

Two implementations live behind it: `embedded.EmbeddedApi` (in-process store with Kubernetes'
semantics, optionally persisted to SQLite) and the kube-apiserver client over HTTP. The controller
only ever talks to `Api`, and `tests/contract/` runs one behavioural suite against every
implementation.

Objects crossing the boundary are plain JSON-compatible dicts ("unstructured", like client-go's
dynamic client): the caller owns what it receives and what it passes in, and an implementation
never keeps a reference to either. Resources are named by a `Resource` descriptor; the module-level
constants cover what the controller touches.

Errors are the typed classes of `errors` (NotFound, Conflict, Gone, ...). A watch is a
`WatchStream`: an async iterator of `WatchEvent`s that is also an async context manager; its
failures (410 Gone above all) are raised from iteration, never from `watch()` itself, so both an
in-process store and an HTTP stream can honour the same contract. A stream that ends without an
error ended cleanly (timeout, or the server shed a slow watcher): re-watch from the last
resourceVersion seen, which may then raise `Gone`.
"""
from __future__ import annotations

import abc
import enum
from collections.abc import AsyncIterator
from typing import Any

import msgspec

__all__ = [
    "Resource", "EventType", "WatchEvent", "ListResult", "PatchType", "Propagation",
    "Preconditions", "WatchStream", "Api", "object_key", "resource_version",
    "WORKFLOWS", "WORKFLOW_TEMPLATES", "CLUSTER_WORKFLOW_TEMPLATES", "CRON_WORKFLOWS",
    "WORKFLOW_TASK_RESULTS", "WORKFLOW_TASK_SETS", "WORKFLOW_ARTIFACT_GC_TASKS", "PODS",
    "CONFIG_MAPS", "SECRETS", "PERSISTENT_VOLUME_CLAIMS", "EVENTS", "LEASES", "NODES",
    "SERVICE_ACCOUNTS", "NAMESPACES", "POD_DISRUPTION_BUDGETS",
]

Object = dict[str, Any]

# Fields every resource accepts in a field selector (apiserver's default set).
_META_FIELDS = frozenset({"metadata.name", "metadata.namespace"})


class Resource(msgspec.Struct, frozen=True):
    """Names one resource type: group/version/plural for URLs, kind for bodies.

    `status_subresource` mirrors the CRD's `subresources.status` (built-ins: whether the type has
    a /status endpoint). `selectable_fields` lists the field-selector paths the server supports
    beyond `metadata.name` and `metadata.namespace`.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status_subresource: bool = False
    selectable_fields: frozenset[str] = frozenset()
    # Custom resources refuse an update without metadata.resourceVersion (Invalid); most
    # built-ins accept it as "overwrite whatever is there".
    unconditional_update: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage identity `group/plural` (one object regardless of the version it is read at)."""
        return f"{self.group}/{self.plural}"

    def supports_field(self, path: str, /) -> bool:
        return path in _META_FIELDS or path in self.selectable_fields


def _argo(plural: str, kind: str, *, namespaced: bool = True, status: bool = False) -> Resource:
    return Resource("argoproj.io", "v1alpha1", plural, kind, namespaced, status, unconditional_update=False)


# Argo's CRDs (../shared/argo/crds): only the task-set and artifact-GC-task CRDs declare
# `subresources.status`; Workflow has `subresources: {}`, so its status is written by a full update.
WORKFLOWS = _argo("workflows", "Workflow")
WORKFLOW_TEMPLATES = _argo("workflowtemplates", "WorkflowTemplate")
CLUSTER_WORKFLOW_TEMPLATES = _argo("clusterworkflowtemplates", "ClusterWorkflowTemplate", namespaced=False)
CRON_WORKFLOWS = _argo("cronworkflows", "CronWorkflow")
WORKFLOW_TASK_RESULTS = _argo("workflowtaskresults", "WorkflowTaskResult")
WORKFLOW_TASK_SETS = _argo("workflowtasksets", "WorkflowTaskSet", status=True)
WORKFLOW_ARTIFACT_GC_TASKS = _argo("workflowartifactgctasks", "WorkflowArtifactGCTask", status=True)

PODS = Resource("", "v1", "pods", "Pod", True, True, frozenset({
    "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
    "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"}))
CONFIG_MAPS = Resource("", "v1", "configmaps", "ConfigMap")
SECRETS = Resource("", "v1", "secrets", "Secret", selectable_fields=frozenset({"type"}))
PERSISTENT_VOLUME_CLAIMS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim",
                                    status_subresource=True)
EVENTS = Resource("", "v1", "events", "Event", selectable_fields=frozenset({
    "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
    "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
    "reason", "reportingComponent", "source", "type"}))
LEASES = Resource("coordination.k8s.io", "v1", "leases", "Lease")
NODES = Resource("", "v1", "nodes", "Node", namespaced=False, status_subresource=True,
                 selectable_fields=frozenset({"spec.unschedulable"}))
SERVICE_ACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False, status_subresource=True,
                      selectable_fields=frozenset({"status.phase"}))
# `spec.podDisruptionBudget` (core.plan.pdb): one per workflow while it runs
POD_DISRUPTION_BUDGETS = Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget",
                                  status_subresource=True)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"


class WatchEvent(msgspec.Struct, frozen=True):
    """One watch notification. For BOOKMARK, `object` carries only kind, apiVersion and
    `metadata.resourceVersion`; for DELETED, the last state stamped with the deletion's RV."""

    type: EventType
    object: Object

    @property
    def resource_version(self) -> str:
        return resource_version(self.object)


class ListResult(msgspec.Struct, frozen=True):
    """A consistent snapshot: `items` as of `resource_version` (watch from there to follow)."""

    items: list[Object]
    resource_version: str


class PatchType(enum.StrEnum):
    """Patch formats, valued by their Content-Type."""

    MERGE = "application/merge-patch+json"  # RFC 7386
    JSON = "application/json-patch+json"  # RFC 6902
    STRATEGIC = "application/strategic-merge-patch+json"  # built-in types only


class Propagation(enum.StrEnum):
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


class Preconditions(msgspec.Struct, frozen=True):
    """Delete only if the live object still has this uid / resourceVersion (else Conflict)."""

    uid: str | None = None
    resource_version: str | None = None


def object_key(obj: Object, /) -> str:
    """The cache key `namespace/name` (just `name` for cluster-scoped objects)."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta.get('name')}" if namespace else str(meta.get("name"))


def resource_version(obj: Object, /) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class WatchStream(AsyncIterator[WatchEvent], abc.ABC):
    """An open watch: iterate it for events; `aclose()` (or leaving `async with`) ends it."""

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self) -> WatchStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Api(abc.ABC):
    """The asynchronous boundary every controller component talks to.

    `namespace` is required for namespaced resources on single-object calls and must be None for
    cluster-scoped ones; on `list`/`watch`, None means all namespaces. Selectors use the
    apiserver's string syntax (`app=x,tier in (a,b),!legacy`; `metadata.name=w,status.phase!=Running`).
    """

    @abc.abstractmethod
    async def get(self, resource: Resource, name: str, /, *, namespace: str | None = None) -> Object:
        """The live object; NotFound if absent."""

    @abc.abstractmethod
    async def list(self, resource: Resource, /, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   resource_version: str | None = None) -> ListResult:
        """Matching objects sorted by namespace then name, with the list's resourceVersion.

        `resource_version` asks for data at least that fresh ("0": any, served from a cache;
        None: a consistent read); ServerTimeout if it is ahead of the server.
        """

    @abc.abstractmethod
    def watch(self, resource: Resource, /, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              resource_version: str | None = None, allow_bookmarks: bool = False,
              timeout: float | None = None) -> WatchStream:
        """Changes after `resource_version`; None or "0" first replays the current state as ADDED.

        Raises (from iteration) Gone when `resource_version` is older than the retained history.
        An object that stops (starts) matching the selectors arrives as DELETED (ADDED). The stream
        ends cleanly after `timeout` seconds, preceded by a BOOKMARK when `allow_bookmarks`.
        """

    @abc.abstractmethod
    async def create(self, resource: Resource, body: Object, /, *, namespace: str | None = None) -> Object:
        """Create from `body` (name or `metadata.generateName`); AlreadyExists / Invalid."""

    @abc.abstractmethod
    async def update(self, resource: Resource, body: Object, /, *, namespace: str | None = None,
                     subresource: str | None = None) -> Object:
        """Replace the object; Conflict if `metadata.resourceVersion` (or `uid`) is set and stale.
        Without a resourceVersion, Invalid for types that refuse unconditional updates (custom
        resources, see `Resource.unconditional_update`).

        `subresource="status"` writes only `status` (NotFound if the type has no status
        subresource); the main endpoint ignores `status` when the type has one.
        """

    @abc.abstractmethod
    async def patch(self, resource: Resource, name: str, patch: Any, /, *, namespace: str | None = None,
                    patch_type: PatchType = PatchType.MERGE, subresource: str | None = None) -> Object:
        """Apply a merge patch (dict) or JSON patch (list of ops); a patch that sets
        `metadata.resourceVersion` or `metadata.uid` is a precondition (Conflict if stale)."""

    @abc.abstractmethod
    async def delete(self, resource: Resource, name: str, /, *, namespace: str | None = None,
                     preconditions: Preconditions | None = None,
                     propagation: Propagation = Propagation.BACKGROUND,
                     grace_period_seconds: int | None = None) -> Object:
        """Delete, or only mark (`deletionTimestamp`) while finalizers remain or a pod drains.

        Returns the object's state when it was only marked. After an immediate delete a real
        server may answer with a bare Status, so callers rely only on kind, apiVersion and
        metadata name/namespace/uid then (the embedded store returns the full last state).
        Dependents (by ownerReference) are removed per `propagation` by the garbage collector
        (the embedded store does it synchronously); Foreground waits only for dependents whose
        reference has `blockOwnerDeletion: true`.
        """

    @abc.abstractmethod
    async def delete_collection(self, resource: Resource, /, *, namespace: str | None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation: Propagation = Propagation.BACKGROUND,
                                grace_period_seconds: int | None = None) -> list[Object] | None:
        """Delete every object of `namespace` matching the selectors, in one request (the
        apiserver's DeleteCollection, `DELETE` on the collection URL).

        Each match is deleted exactly as `delete` would: objects with finalizers (and bound,
        running pods) are only marked, dependents follow by `propagation`, every removal is one
        watch DELETED event with its own resourceVersion. Not atomic: a failure part-way leaves
        the earlier matches deleted. Nothing matching is no error (an empty list, never
        NotFound). `namespace` is required for namespaced resources (the apiserver serves
        DeleteCollection per namespace only) and must be None for cluster-scoped ones.

        Returns the matches as they were read before the deletes (the apiserver answers with the
        list it deleted from; a marked object shows no deletionTimestamp there), in no particular
        order, or None when a server answered with a bare Status that does not name them.
        """

    async def close(self) -> None:
        """Release connections / files. The default has nothing to release."""
