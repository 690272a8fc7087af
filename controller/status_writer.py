"""Writing a workflow's status: nodes through the packer, plus phase, times, labels.

The size policy is `core.status.packer`'s: plain `status.nodes` while the object is under Argo's
1 MiB, Argo's `status.compressedNodes` (zstd + base64, readable by Argo's tools) while that
fits, tiphys' compact form beyond, and `StatusTooLarge` past the hard limit (under etcd's
1.5 MiB request limit). Encoded bytes are cached per node object by the codecs, so a write
costs what changed, not the whole map.
"""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.spec import NodeStatus
from tiphys.core.status.errors import StatusTooLarge
from tiphys.core.status.packer import Form, Packer, SizeSettings

__all__ = ["StatusWriter"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"
PHASE_LABEL = "workflows.argoproj.io/phase"
_encoder = msgspec.json.Encoder()
# Argo's 1 MiB for plain nodes; Argo-readable compression up to 1.4 MiB; compact up to 1.45 MiB,
# under etcd's 1.5 MiB request limit.
SIZES = SizeSettings(compress_above=1024 * 1024, compact_above=1400 * 1024, hard_limit=1450 * 1024)


class StatusWriter:
    def __init__(self, *, sizes: SizeSettings = SIZES) -> None:
        self.packer: Packer[NodeStatus] = Packer(NodeStatus, settings=sizes)
        self.codec = self.packer.json
        self._plain: dict[str, tuple[NodeStatus, Any]] = {}
        self.last_bytes = 0  # size of the object last written, for metrics

    def read_nodes(self, status: dict) -> dict[str, NodeStatus]:
        """Nodes from a stored status, whichever form it holds (ValueError when unreadable)."""
        try:
            return self.packer.unpack(nodes=status.get("nodes") or None,
                                      compressed_nodes=status.get("compressedNodes") or None)
        except Exception as exc:  # CorruptStatus and base64 errors alike
            raise ValueError(str(exc)) from None

    def status(self, ex: Any, rest: dict | None = None) -> dict:
        """The status to write; `rest` is the object without status (its bytes count toward the size).

        Raises StatusTooLarge when even the compact form does not fit.
        """
        wf = ex.workflow
        out: dict[str, Any] = {"phase": wf.phase}
        for key, value in (("startedAt", wf.started_at), ("finishedAt", wf.finished_at),
                           ("message", wf.message), ("progress", wf.progress)):
            if value:
                out[key] = value
        self._rest_of_status(ex, out)
        base = len(_encoder.encode({**(rest or {}), "status": out}))
        packed = self.packer.pack(ex.nodes, base_size=base, workflow_name=ex.meta.name)
        self.last_bytes = packed.size
        if packed.form is Form.PLAIN:
            out["nodes"] = self._builtins(ex.nodes)
        else:
            out["compressedNodes"] = packed.compressed_nodes
        return out

    def _rest_of_status(self, ex: Any, out: dict) -> None:
        wf = ex.workflow
        if ex.stored_templates:
            out["storedTemplates"] = ex.stored_templates
        if ex.stored_workflow_template_spec is not None:
            out["storedWorkflowTemplateSpec"] = ex.stored_workflow_template_spec
        if wf.outputs:
            out["outputs"] = wf.outputs
        if wf.conditions:
            out["conditions"] = wf.conditions

    def _builtins(self, nodes: dict[str, NodeStatus]) -> dict[str, Any]:
        cache = self._plain
        out = {}
        for node_id, node in nodes.items():
            hit = cache.get(node_id)
            if hit is None or hit[0] is not node:
                hit = cache[node_id] = (node, msgspec.to_builtins(node))
            out[node_id] = hit[1]
        return out

    def workflow_body(self, wf: dict, ex: Any) -> dict:
        """The Workflow to write: the live object (spec untouched) with our status and labels."""
        meta = dict(wf.get("metadata") or {})
        labels = dict(meta.get("labels") or {})
        phase = ex.workflow.phase
        labels[PHASE_LABEL] = phase
        labels[COMPLETED_LABEL] = "true" if phase in ("Succeeded", "Failed", "Error") else "false"
        meta["labels"] = labels
        annotations = dict(meta.get("annotations") or {})
        annotations.setdefault("workflows.argoproj.io/pod-name-format", ex.settings.pod_name_format)
        meta["annotations"] = annotations
        rest = {**wf, "metadata": meta}
        rest.pop("status", None)
        try:
            status = self.status(ex, rest)
        except StatusTooLarge as exc:
            # Argo would offload or fail; we fail the workflow with the reason, never the controller
            ex.workflow.set(phase="Error", message=f"workflow is too large to store its status: {exc}",
                            finished_at=ex.now or ex.workflow.started_at)
            labels[PHASE_LABEL] = "Error"
            labels[COMPLETED_LABEL] = "true"
            status = {"phase": "Error", "message": ex.workflow.message, "startedAt": ex.workflow.started_at,
                      "finishedAt": ex.workflow.finished_at}
        return {**rest, "status": status}
