"""The top-level resources tiphys reads, by kind, plus the ones Argo's schema leaves out."""
from __future__ import annotations

from msgspec import field

from tiphys.core.spec._argo import (ClusterWorkflowTemplate, CronWorkflow, Outputs, Template, Workflow,
                                    WorkflowEventBinding, WorkflowTemplate)
from tiphys.core.spec._base import _Base
from tiphys.core.spec._k8s import ObjectMeta

__all__ = ["WorkflowTaskResult", "WorkflowTaskSet", "WorkflowTaskSetSpec", "WorkflowTaskSetStatus", "NodeResult", "KINDS",
           "GROUP_VERSION"]

GROUP_VERSION = "argoproj.io/v1alpha1"


class WorkflowTaskResult(_Base):
    """The executor's report of one node's outputs (Argo keeps the fields at top level, no spec)."""

    api_version: str | None = field(default=None, name="apiVersion")
    kind: str | None = None
    metadata: ObjectMeta | None = None
    phase: str | None = None
    message: str | None = None
    outputs: Outputs | None = None
    progress: str | None = None


class NodeResult(_Base):
    phase: str | None = None
    message: str | None = None
    outputs: Outputs | None = None
    progress: str | None = None


class WorkflowTaskSetSpec(_Base):
    tasks: dict[str, Template] | None = None


class WorkflowTaskSetStatus(_Base):
    nodes: dict[str, NodeResult] | None = None


class WorkflowTaskSet(_Base):
    """HTTP and plugin tasks handed to the agent pod of one workflow."""

    api_version: str | None = field(default=None, name="apiVersion")
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: WorkflowTaskSetSpec | None = None
    status: WorkflowTaskSetStatus | None = None


KINDS: dict[str, type] = {
    "Workflow": Workflow,
    "WorkflowTemplate": WorkflowTemplate,
    "ClusterWorkflowTemplate": ClusterWorkflowTemplate,
    "CronWorkflow": CronWorkflow,
    "WorkflowEventBinding": WorkflowEventBinding,
    "WorkflowTaskResult": WorkflowTaskResult,
    "WorkflowTaskSet": WorkflowTaskSet,
}
