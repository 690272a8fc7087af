"""Node names, node IDs and pod names, computed exactly as Argo computes them.

A node's *name* is the long dotted path users see (`wf[1].fan(0:a)`); its *ID* (the key in
`status.nodes`) and the name of its pod are both derived from that name with a 32-bit FNV-1a
hash, so they are deterministic: a controller that crashed after creating a pod finds the same
pod again (argo-semantics §4.2-4.4).

    node ID   = wf                                   if name == wf
              = wf + "-" + decimal(fnv1a32(name))     otherwise
    pod name  = node ID                               POD_NAMES=v1
              = wf                                    v2, name == wf
              = prefix[:242] + "-" + decimal(fnv1a32(name)), prefix = wf ["-" + templateName]   v2

32 bits collide: among 50,000 names, two share a hash about one time in four. Argo then fails the
workflow ("node ... already initialized"); tiphys gives the later name a *salted* hash instead,
fnv1a32(name + "#" + k) for the first k = 1, 2, ... that is free, in both its ID and its pod name
(`salt=k` below). Without a collision, IDs and pod names are Argo's exactly.

The name builders below spell out each naming rule of §4.2 once, so the planner never formats
a node name by hand. Everything here is pure string work on `str`; hashing is over UTF-8 bytes.
"""
from __future__ import annotations

import enum

__all__ = [
    "AGENT_SUFFIX", "MAX_POD_NAME_PREFIX", "PodNameVersion",
    "fnv1a32", "node_id", "pod_name", "pod_name_version", "template_name_for_pod", "agent_pod_name",
    "step_group_name", "step_name", "task_name", "loop_child_name", "retry_child_name",
    "exit_handler_name", "hook_name", "container_name", "display_name", "hash_suffix",
]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193

# Kubernetes names are at most 253 bytes; Argo keeps 10 digits + "-" for the hash (pod_name.go).
MAX_POD_NAME_PREFIX = 253 - 10 - 1
AGENT_SUFFIX = "-agent"



class PodNameVersion(enum.StrEnum):
    """Value of the `workflows.argoproj.io/pod-name-format` annotation."""

    V1 = "v1"
    V2 = "v2"


def fnv1a32(data: str | bytes, /) -> int:
    """FNV-1a 32-bit of `data` (a str is hashed as its UTF-8 bytes), as Go's `hash/fnv` New32a."""
    h = _FNV_OFFSET
    for b in data.encode() if isinstance(data, str) else data:
        h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def hash_suffix(node_name: str, /) -> str:
    """The decimal FNV-1a of a node name: the part shared by its ID and its pod name."""
    return str(fnv1a32(node_name))


def _hash(node_name: str, salt: int) -> int:
    return fnv1a32(f"{node_name}#{salt}" if salt else node_name)


def node_id(workflow_name: str, node_name: str, /, *, salt: int = 0) -> str:
    """`Workflow.NodeID(name)`: the workflow's own name for the root, else `wf-<fnv1a32(name)>`
    (a salted hash for a name whose hash was taken, see the module docstring)."""
    if node_name == workflow_name:
        return workflow_name
    return f"{workflow_name}-{_hash(node_name, salt)}"


def pod_name_version(annotation: str | None, /) -> PodNameVersion:
    """The pod-name format recorded on a workflow; anything but "v1" means v2, as in Argo."""
    return PodNameVersion.V1 if annotation == "v1" else PodNameVersion.V2


def template_name_for_pod(template_name: str | None, template_ref_template: str | None = None, /) -> str:
    """The template name that goes into a v2 pod name.

    A node called through a templateRef is named after the referenced template
    (`templateRef.template`); otherwise after its own template. Inline templates have no name.
    """
    if template_ref_template:
        return template_ref_template
    return template_name or ""


def pod_name(workflow_name: str, node_name: str, template_name: str = "", /, *,
             version: PodNameVersion = PodNameVersion.V2, salt: int = 0) -> str:
    """`util.GeneratePodName`: the name of the pod that runs node `node_name`."""
    if version == PodNameVersion.V1:
        return node_id(workflow_name, node_name, salt=salt)
    if node_name == workflow_name:
        return workflow_name
    prefix = f"{workflow_name}-{template_name}" if template_name else workflow_name
    if len(prefix) > MAX_POD_NAME_PREFIX:
        # Go slices bytes; names are DNS labels (ASCII), so bytes and characters agree. A
        # multi-byte character cut in half is dropped rather than emitted as invalid UTF-8.
        prefix = prefix.encode()[:MAX_POD_NAME_PREFIX].decode(errors="ignore")
    return f"{prefix}-{_hash(node_name, salt)}"


def agent_pod_name(workflow_name: str, /) -> str:
    """The HTTP/plugin agent pod of a workflow: `<wf>-<fnv1a32("agent")>-agent`."""
    return f"{workflow_name}-{fnv1a32('agent')}{AGENT_SUFFIX}"


# -- node names (§4.2) ---------------------------------------------------------------------------

def step_group_name(steps_node_name: str, index: int, /) -> str:
    """Step group `index` of a steps node: `N[i]`."""
    return f"{steps_node_name}[{index}]"


def step_name(group_name: str, step: str, /) -> str:
    """Step `step` in a step group: `N[i].s`."""
    return f"{group_name}.{step}"


def task_name(dag_node_name: str, task: str, /) -> str:
    """DAG task `task` of a DAG node (also the TaskGroup of a looped task): `N.t`."""
    return f"{dag_node_name}.{task}"


def loop_child_name(name: str, index: int, description: str, /) -> str:
    """An expanded loop item: `<name>(<index>:<description>)`.

    `generateNodeName` removes every "(" and ")" from the item's description so that the
    name stays parseable; the description itself comes from the item (see the loop expander).
    """
    return f"{name}({index}:{description.replace('(', '').replace(')', '')})"


def retry_child_name(retry_node_name: str, attempt: int, /) -> str:
    """Retry attempt `attempt` (from 0) of node `X`: `X(k)`."""
    return f"{retry_node_name}({attempt})"


def exit_handler_name(node_name: str, /) -> str:
    """The exit handler of a workflow (`wf.onExit`) or of a step/task node (`<node>.onExit`)."""
    return f"{node_name}.onExit"


def hook_name(node_name: str, hook: str, /) -> str:
    """Lifecycle hook `hook` of the workflow (`wf.hooks.h`) or of a step/task node."""
    return f"{node_name}.hooks.{hook}"


def container_name(pod_node_name: str, container: str, /) -> str:
    """Container `c` of a containerSet pod node `P`: `P.c`."""
    return f"{pod_node_name}.{container}"


def display_name(node_name: str, boundary_name: str | None = None, /) -> str:
    """The default `displayName` of a node (§4.5).

    The boundary node's name is cut off as a prefix, then one leading `[i].` or `.`; a node
    without a boundary (the root, `wf.onExit`) shows its full name. Templates may override it
    with the `workflows.argoproj.io/display-name` annotation; that is the planner's business.
    """
    if not boundary_name or not node_name.startswith(boundary_name):
        return node_name
    rest = node_name[len(boundary_name):]
    # Hot in the status codec: the regex `^(\[\d+\])?\.` spelled out by hand.
    if rest[:1] == ".":
        trimmed = rest[1:]
    elif rest[:1] == "[":
        close = rest.find("]")
        digits = rest[1:close]
        if close > 1 and rest[close + 1:close + 2] == "." and digits.isdigit() and digits.isascii():
            trimmed = rest[close + 2:]
        else:
            trimmed = rest
    else:
        trimmed = rest
    # The boundary itself (or a name equal to it) keeps its full name rather than becoming "".
    return trimmed or node_name
