"""Which API resource a manifest's `apiVersion`/`kind`, or a kubectl type argument, names.

kubectl asks the server's discovery; `KindTable` is the same answer as data. `BUILTIN` is what a
plain cluster with Argo's CRDs serves (core, apps, batch, policy, networking, RBAC, coordination,
autoscaling, storage, apiextensions, argoproj.io); the in-cluster client builds a table from
discovery instead, so custom resources work there too. Lookups:

* `for_manifest(apiVersion, kind)` -- exact group, version and kind, else kubectl's
  `no matches for kind "Route" in version "route.openshift.io/v1"`;
* `for_argument("pods" | "pod" | "po" | "Pod" | "jobs.batch" | "job.batch/v1")` -- plural,
  singular, short name or kind, case-insensitive, optionally qualified by `.group` (kubectl's
  `TYPE[.VERSION][.GROUP]`); the preferred (first listed) version wins.
"""
from __future__ import annotations

from collections.abc import Iterable

import msgspec

__all__ = ["BUILTIN", "KindInfo", "KindTable", "UnknownKind"]


class UnknownKind(LookupError):
    """No served resource matches; the message reads as kubectl's."""


class KindInfo(msgspec.Struct, frozen=True):
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def builtin(self) -> bool:
        """A type the apiserver compiles in (strategic merge patch works); not a CRD."""
        return "." not in self.group or self.group.endswith(".k8s.io")

    def qualified(self, name: str, /) -> str:
        """kubectl's `<kind>.<group>/<name>` (`pod/<name>` for the core group)."""
        return f"{self.singular}.{self.group}/{name}" if self.group else f"{self.singular}/{name}"


class KindTable:
    def __init__(self, kinds: Iterable[KindInfo], /) -> None:
        self._kinds = tuple(kinds)

    def __iter__(self):
        return iter(self._kinds)

    def for_manifest(self, api_version: str, kind: str, /) -> KindInfo:
        group, _, version = api_version.rpartition("/")
        for info in self._kinds:
            if info.kind == kind and info.group == group and info.version == version:
                return info
        raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"')

    def for_argument(self, text: str, /) -> KindInfo:
        word = text.lower()
        candidates = [(word, None, None)]
        # `jobs.batch`, `jobs.v1.batch`, `deployments.apps`
        parts = word.split(".")
        for cut in range(1, len(parts)):
            name, rest = parts[0], ".".join(parts[cut:])
            version = ".".join(parts[1:cut]) or None
            candidates.append((name, version, rest))
        for name, version, group in candidates:
            for info in self._kinds:
                if name not in (info.plural, info.singular, *info.short_names):
                    continue
                if group is not None and info.group != group:
                    continue
                if version is not None and info.version != version:
                    continue
                return info
        raise UnknownKind(f'the server doesn\'t have a resource type "{text}"')


def _core(kind: str, plural: str, *short: str, namespaced: bool = True) -> KindInfo:
    return KindInfo("", "v1", kind, plural, namespaced, short)


def _g(group: str, version: str, kind: str, plural: str, *short: str, namespaced: bool = True) -> KindInfo:
    return KindInfo(group, version, kind, plural, namespaced, short)


BUILTIN = KindTable([
    _core("Pod", "pods", "po"), _core("ConfigMap", "configmaps", "cm"), _core("Secret", "secrets"),
    _core("Service", "services", "svc"), _core("ServiceAccount", "serviceaccounts", "sa"),
    _core("PersistentVolumeClaim", "persistentvolumeclaims", "pvc"),
    _core("PersistentVolume", "persistentvolumes", "pv", namespaced=False),
    _core("Namespace", "namespaces", "ns", namespaced=False), _core("Node", "nodes", "no", namespaced=False),
    _core("Event", "events", "ev"), _core("Endpoints", "endpoints", "ep"),
    _core("LimitRange", "limitranges", "limits"), _core("ResourceQuota", "resourcequotas", "quota"),
    _core("ReplicationController", "replicationcontrollers", "rc"),
    _g("apps", "v1", "Deployment", "deployments", "deploy"), _g("apps", "v1", "StatefulSet", "statefulsets", "sts"),
    _g("apps", "v1", "DaemonSet", "daemonsets", "ds"), _g("apps", "v1", "ReplicaSet", "replicasets", "rs"),
    _g("batch", "v1", "Job", "jobs"), _g("batch", "v1", "CronJob", "cronjobs", "cj"),
    _g("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "pdb"),
    _g("networking.k8s.io", "v1", "Ingress", "ingresses", "ing"),
    _g("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "netpol"),
    _g("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _g("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _g("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _g("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _g("coordination.k8s.io", "v1", "Lease", "leases"),
    _g("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "hpa"),
    _g("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "hpa"),
    _g("storage.k8s.io", "v1", "StorageClass", "storageclasses", "sc", namespaced=False),
    _g("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "crd", "crds",
       namespaced=False),
    _g("argoproj.io", "v1alpha1", "Workflow", "workflows", "wf"),
    _g("argoproj.io", "v1alpha1", "WorkflowTemplate", "workflowtemplates", "wftmpl"),
    _g("argoproj.io", "v1alpha1", "ClusterWorkflowTemplate", "clusterworkflowtemplates", "clusterwftmpl",
       "cwft", namespaced=False),
    _g("argoproj.io", "v1alpha1", "CronWorkflow", "cronworkflows", "cwf", "cronwf"),
    _g("argoproj.io", "v1alpha1", "WorkflowTaskResult", "workflowtaskresults"),
    _g("argoproj.io", "v1alpha1", "WorkflowTaskSet", "workflowtasksets", "wfts"),
    _g("argoproj.io", "v1alpha1", "WorkflowArtifactGCTask", "workflowartifactgctasks", "wfat"),
    _g("argoproj.io", "v1alpha1", "WorkflowEventBinding", "workfloweventbindings", "wfeb"),
])
