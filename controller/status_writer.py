"""Writing a workflow's status: nodes through the codec, plus phase, times, labels.

Nodes go into `status.nodes` while the encoded map is small, and into Argo's
`status.compressedNodes` (zstd + base64, readable by Argo's tools) past `compress_over`, as
Argo's packer does past 1 MiB. Encoded bytes are cached per node object by the codec, so a
write costs what changed, not the whole map.
"""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.spec import NodeStatus
from tiphys.core.status.codec import NodeCodec

__all__ = ["StatusWriter"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"
PHASE_LABEL = "workflows.argoproj.io/phase"
_builtins_decoder = msgspec.json.Decoder()


class StatusWriter:
    def __init__(self, *, compress_over: int = 1024 * 1024) -> None:
        self.codec: NodeCodec[NodeStatus] = NodeCodec(NodeStatus)
        self.compress_over = compress_over
        self._plain: dict[str, tuple[NodeStatus, Any]] = {}

    def read_nodes(self, status: dict) -> dict[str, NodeStatus]:
        """Nodes from a stored status, whichever form it holds (ValueError when unreadable)."""
        if status.get("compressedNodes"):
            try:
                return self.codec.decompress(status["compressedNodes"])
            except Exception as exc:  # CorruptStatus and base64 errors alike
                raise ValueError(str(exc)) from None
        nodes = status.get("nodes") or {}
        try:
            return msgspec.convert(nodes, type=dict[str, NodeStatus])
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None

    def status(self, ex: Any) -> dict:
        wf = ex.workflow
        data = self.codec.encode_json(ex.nodes)
        out: dict[str, Any] = {"phase": wf.phase}
        for key, value in (("startedAt", wf.started_at), ("finishedAt", wf.finished_at),
                           ("message", wf.message), ("progress", wf.progress)):
            if value:
                out[key] = value
        if len(data) > self.compress_over:
            out["compressedNodes"] = self.codec.compress_json(data)
        else:
            out["nodes"] = self._builtins(ex.nodes)
        if ex.stored_templates:
            out["storedTemplates"] = ex.stored_templates
        if ex.stored_workflow_template_spec is not None:
            out["storedWorkflowTemplateSpec"] = ex.stored_workflow_template_spec
        if wf.outputs:
            out["outputs"] = wf.outputs
        if wf.conditions:
            out["conditions"] = wf.conditions
        return out

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
        return {**wf, "metadata": meta, "status": self.status(ex)}
