"""The node-status model: node IDs and pod names, phase helpers, and the status codec.

* `ids` — node names, node IDs (FNV-1a of the name) and pod names, exactly as Argo computes them.
* `nodes` — node types and phases, the fulfilled/completed predicates, workflow phase, progress.
* `codec` — `status.nodes` as plain JSON and as Argo's `compressedNodes` (zstd, or gzip).
* `compact` — the tiphys-only compact form for workflows past Argo's size limits.
* `packer` — the size policy choosing the form, and the one reader of every form.
* `synth` — realistic generated statuses for tests, benchmarks and dictionary training.
"""
from tiphys.core.status import ids, nodes
from tiphys.core.status._frames import Algorithm
from tiphys.core.status.codec import COMPACT_PREFIX, NodeCodec
from tiphys.core.status.compact import LAYOUT_VERSION, CompactCodec
from tiphys.core.status.errors import CorruptStatus, StatusError, StatusTooLarge
from tiphys.core.status.ids import PodNameVersion, fnv1a32, node_id, pod_name
from tiphys.core.status.nodes import NodePhase, NodeType, Progress, WorkflowPhase
from tiphys.core.status.packer import Form, Packed, Packer, SizeSettings, decode_nodes

__all__ = [
    "ids", "nodes",
    "Algorithm", "COMPACT_PREFIX", "NodeCodec", "LAYOUT_VERSION", "CompactCodec",
    "CorruptStatus", "StatusError", "StatusTooLarge",
    "PodNameVersion", "fnv1a32", "node_id", "pod_name",
    "NodePhase", "NodeType", "Progress", "WorkflowPhase",
    "Form", "Packed", "Packer", "SizeSettings", "decode_nodes",
]
