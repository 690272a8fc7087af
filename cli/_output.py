"""What the cluster commands print: Argo's list columns, status words, short ages, json/yaml dumps.

`argo list` (semantics §7.2) shows `NAME STATUS AGE DURATION PRIORITY MESSAGE`; STATUS
reads `Running (Suspended)`, `Failed (Terminated)` or `Pending` where the bare phase would
mislead. Ages and durations use the short form (`5s`, `3m`, `2h`, `4d`). Columns are
aligned as Go's tabwriter does with padding 3 (Argo's list printer), the get tree with 2.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import msgspec
import yaml

from tiphys.controller.status_writer import StatusWriter
from tiphys.core.spec import NodeStatus

__all__ = ["workflow_status", "short_duration", "age", "table", "dump", "ts", "read_nodes", "nodes_as_dicts",
           "go_time", "COMPLETED_LABEL", "is_completed", "workflow_sort_key", "use_color",
           "workflow_duration", "go_seconds", "resources_duration_text"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"
_reader = StatusWriter()


def ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def is_completed(wf: dict, /) -> bool:
    return ((wf.get("metadata") or {}).get("labels") or {}).get(COMPLETED_LABEL) == "true"


def read_nodes(wf: dict, /) -> dict[str, NodeStatus]:
    """The nodes of plain, compressed or compact status alike (an unreadable status is an error)."""
    try:
        return _reader.read_nodes(wf.get("status") or {})
    except ValueError as exc:
        name = (wf.get("metadata") or {}).get("name", "?")
        from tiphys.cli._client import CliError

        raise CliError(f"workflow {name}: unreadable status.nodes: {exc}") from None


def nodes_as_dicts(wf: dict, /) -> dict[str, dict]:
    """Nodes as plain JSON dicts (camelCase), for commands that edit and write them back."""
    return {k: msgspec.to_builtins(v) for k, v in read_nodes(wf).items()}


def _has_active_suspend_node(wf: dict) -> bool:
    status = wf.get("status") or {}
    if not status.get("nodes") and not status.get("compressedNodes"):
        return False
    try:
        nodes = _reader.read_nodes(status)
    except ValueError:
        return False
    return any(n.type_ == "Suspend" and n.phase == "Running" for n in nodes.values())


def workflow_status(wf: dict, /) -> str:
    """The STATUS column (§7.2)."""
    spec = wf.get("spec") or {}
    phase = (wf.get("status") or {}).get("phase") or ""
    if phase in ("", "Pending"):
        return "Pending"
    if phase == "Running" and (spec.get("suspend") or _has_active_suspend_node(wf)):
        return "Running (Suspended)"
    if phase == "Failed" and spec.get("shutdown"):
        return "Failed (Terminated)"
    return phase


def short_duration(seconds: float, /) -> str:
    """Argo's short human duration: `5s`, `3m`, `2h`, `4d` (the largest whole unit)."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def age(created: str | None, /, *, now: datetime | None = None) -> str:
    start = ts(created)
    if start is None:
        return ""
    return short_duration(((now or datetime.now(timezone.utc)) - start).total_seconds())


def workflow_duration(wf: dict, /, *, now: datetime | None = None) -> str:
    status = wf.get("status") or {}
    start = ts(status.get("startedAt"))
    if start is None:
        return "0s"
    end = ts(status.get("finishedAt")) or now or datetime.now(timezone.utc)
    return short_duration((end - start).total_seconds())


def workflow_sort_key(wf: dict, /) -> tuple:
    """Argo's WorkflowSorter: unfinished first, then the most recently finished, then newest created."""
    status = wf.get("status") or {}
    finished = status.get("finishedAt") or ""
    created = (wf.get("metadata") or {}).get("creationTimestamp") or ""
    return (0 if not finished else 1, _desc(finished), _desc(created), wf["metadata"]["name"])


def _desc(text: str) -> tuple:
    return tuple(-ord(c) for c in text)


def table(headers: Sequence[str] | None, rows: Iterable[Sequence[str]], /, *, padding: int = 3) -> str:
    """Left-aligned columns as tabwriter prints them; the last column is not padded."""
    all_rows = ([list(headers)] if headers else []) + [list(r) for r in rows]
    if not all_rows:
        return ""
    n = max(len(r) for r in all_rows)
    widths = [max((len(r[i]) for r in all_rows if i < len(r)), default=0) for i in range(n)]
    lines = []
    for r in all_rows:
        cells = [c + " " * (widths[i] - len(c) + padding) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


def dump(obj: Any, /, *, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(obj, indent=2)
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip("\n")


def go_time(text: str | None, /) -> str:
    """A timestamp as Go's `time.Time.String()` prints it (what `argo wait` shows)."""
    t = ts(text)
    if t is None:
        return "0001-01-01 00:00:00 +0000 UTC"
    return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def use_color(no_color: bool, /) -> bool:
    import os

    return not no_color and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb" \
        and sys.stdout.isatty()


_DENOMINATOR = {"memory": "100Mi", "storage": "10Gi", "ephemeral-storage": "10Gi"}  # else "1" (Argo)


def go_seconds(seconds: int, /) -> str:
    """Whole seconds as Go's time.Duration prints them: 0s, 45s, 1m5s, 2h0m0s."""
    h, rest = divmod(int(seconds), 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s" if m else f"{s}s"


def resources_duration_text(rd: dict | None, /) -> str:
    """Argo's ResourcesDuration.String(): `<duration>*(<denominator> <resource>)`, joined by commas
    (sorted here; Go's map order is random)."""
    if not isinstance(rd, dict):
        return ""
    return ",".join(f"{go_seconds(v)}*({_DENOMINATOR.get(k, '1')} {k})" for k, v in sorted(rd.items())
                    if isinstance(v, int))

