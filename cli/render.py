"""The `argo get` / `argo watch` view of a workflow: header lines and the node tree (§7.3)."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from tiphys.core.spec import NodeStatus
from tiphys.core.status import ids

__all__ = ["render_workflow", "Style", "humanize_duration"]

GLYPHS = {"Pending": "◷", "Running": "●", "Succeeded": "✔", "Skipped": "○", "Omitted": "○", "Failed": "✖",
          "Error": "⚠"}
COLOURS = {"Pending": "33", "Running": "36", "Succeeded": "32", "Skipped": "39", "Omitted": "39", "Failed": "31",
           "Error": "31"}
_LOOP_INDEX = re.compile(r"\((\d+)(?::|\))")


class Style:
    def __init__(self, *, color: bool = True, utf8: bool = True) -> None:
        self.color = color
        self.utf8 = utf8

    def glyph(self, node: NodeStatus) -> str:
        phase = node.phase or "Pending"
        suspended = node.type_ == "Suspend" and phase == "Running"
        if not self.utf8:
            text = "Suspend" if suspended else phase
        else:
            text = "ǁ" if suspended else GLYPHS.get(phase, "?")
        if self.color:
            code = "36" if suspended else COLOURS.get(phase, "39")
            return f"\x1b[{code}m{text}\x1b[0m"
        return text

    def parts(self) -> dict[str, str]:
        if self.utf8:
            return {"mid": "├─", "last": "└─", "first": "┬─", "single": "──", "pipe": "│ ", "blank": "  ",
                    "open_mid": "├─┬─", "open_last": "└─┬─"}
        return {"mid": "|-", "last": "`-", "first": "+-", "single": "--", "pipe": "| ", "blank": "  ",
                "open_mid": "|-+-", "open_last": "`-+-"}


def _ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def humanize_duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _duration(node: NodeStatus, now: datetime) -> str:
    start = _ts(node.started_at)
    if start is None:
        return ""
    end = _ts(node.finished_at) or now
    return humanize_duration(max(0.0, (end - start).total_seconds()))


def _sort_key(nodes: dict[str, NodeStatus]):
    def key(node_id: str) -> tuple:
        n = nodes[node_id]
        m = _LOOP_INDEX.search(n.display_name or "")
        return (n.started_at or "", int(m.group(1)) if m else -1, n.display_name or "")
    return key


class _Tree:
    """Argo's printer model: boundary nodes contain their nodes; groups and retries are parents."""

    def __init__(self, nodes: dict[str, NodeStatus]) -> None:
        self.nodes = nodes
        in_group: set[str] = set()
        for n in nodes.values():
            if n.type_ in ("StepGroup", "Retry", "TaskGroup"):
                in_group.update(n.children or ())
        self.members: dict[str, list[str]] = {}
        for node_id, n in nodes.items():
            if n.boundary_id and node_id not in in_group and n.boundary_id in nodes:
                self.members.setdefault(n.boundary_id, []).append(node_id)
        key = _sort_key(nodes)
        for kids in self.members.values():
            kids.sort(key=key)

    def children(self, node_id: str) -> list[str]:
        n = self.nodes[node_id]
        if n.type_ in ("StepGroup", "Retry", "TaskGroup"):
            kids = [c for c in n.children or () if c in self.nodes
                    and self.nodes[c].boundary_id == n.boundary_id and self.nodes[c].type_ != "StepGroup"]
            return sorted(kids, key=lambda c: self.nodes[c].started_at or "")  # stable: creation order
        if n.type_ in ("Steps", "DAG"):
            return self.members.get(node_id, [])
        return []

    def hidden(self, node_id: str) -> bool:
        n = self.nodes[node_id]
        if n.type_ in ("StepGroup", "TaskGroup"):
            return True
        if n.phase == "Omitted":
            return True
        return n.type_ == "Retry" and len([c for c in n.children or () if c in self.nodes]) == 1


def render_workflow(wf: dict, nodes: dict[str, NodeStatus], /, *, style: Style = Style(), now: datetime | None = None,
                    header: bool = True) -> str:
    now = now or datetime.now(timezone.utc)
    meta = wf.get("metadata") or {}
    status = wf.get("status") or {}
    name = meta.get("name", "")
    lines: list[str] = []
    if header:
        rows = [("Name:", name), ("Namespace:", meta.get("namespace", "")), ("Status:", status.get("phase") or "Pending")]
        if status.get("message"):
            rows.append(("Message:", status["message"]))
        if status.get("startedAt"):
            rows.append(("Started:", status["startedAt"]))
        if status.get("finishedAt"):
            rows.append(("Finished:", status["finishedAt"]))
        start, end = _ts(status.get("startedAt")), _ts(status.get("finishedAt"))
        if start is not None:
            rows.append(("Duration:", humanize_duration(((end or now) - start).total_seconds())))
        if status.get("progress"):
            rows.append(("Progress:", status["progress"]))
        params = (wf.get("spec") or {}).get("arguments", {}).get("parameters") or []
        if params:
            rows.append(("Parameters:", ""))
        lines += [f"{k:<20} {v}".rstrip() for k, v in rows]
        lines += [f"  {p.get('name')}: {p.get('value', '')}" for p in params]
        out_params = (status.get("outputs") or {}).get("parameters") or []
        if out_params:
            lines.append("Output Parameters:")
            lines += [f"  {p.get('name')}: {p.get('value', '')}" for p in out_params]
        lines.append("")
    table: list[tuple[str, str, str, str, str]] = []
    tree = _Tree(nodes)
    version = ids.pod_name_version((meta.get("annotations") or {}).get("workflows.argoproj.io/pod-name-format"))
    parts = style.parts()

    def row(node_id: str, prefix: str) -> None:
        n = nodes[node_id]
        template = f"{n.template_ref.name}/{n.template_ref.template}" if n.template_ref else (n.template_name or "")
        pod = dur = ""
        if n.type_ == "Pod":
            tname = n.template_ref.template if n.template_ref else (n.template_name or "")
            pod = ids.pod_name(name, n.name or "", tname, version=version)
            dur = _duration(n, now)
        table.append((f"{prefix}{style.glyph(n)} {n.display_name or n.name}", template, pod, dur, n.message or ""))

    def walk(node_id: str, indent: str) -> None:
        kids = tree.children(node_id)
        for i, k in enumerate(kids):
            last = i == len(kids) - 1
            branch, cont = (parts["last"], parts["blank"]) if last else (parts["mid"], parts["pipe"])
            n = nodes[k]
            if tree.hidden(k) and n.type_ != "Retry" and n.phase != "Omitted":
                inner = [x for x in tree.children(k) if nodes[x].phase != "Omitted"]
                for j, x in enumerate(inner):
                    if j == 0:
                        row(x, indent + branch + (parts["single"] if len(inner) == 1 else parts["first"]))
                        walk(x, indent + cont + (parts["blank"] if len(inner) == 1 else parts["pipe"]))
                    else:
                        end = j == len(inner) - 1
                        row(x, indent + cont + (parts["last"] if end else parts["mid"]))
                        walk(x, indent + cont + (parts["blank"] if end else parts["pipe"]))
            elif tree.hidden(k) and n.type_ == "Retry":
                for x in tree.children(k):
                    row(x, indent + branch)
                    walk(x, indent + cont)
            elif n.phase != "Omitted":
                row(k, indent + branch)
                walk(k, indent + cont)

    root_id = ids.node_id(name, name)
    if root_id in nodes:
        row(root_id, " ")
        walk(root_id, " ")
    exit_id = ids.node_id(name, f"{name}.onExit")
    if exit_id in nodes:
        table.append(("", "", "", "", ""))
        row(exit_id, " ")
        walk(exit_id, " ")
    headers = ("STEP", "TEMPLATE", "PODNAME", "DURATION", "MESSAGE")
    visible_width = [max(len(_strip(r[i])) for r in [headers, *table]) for i in range(5)]
    for r in [headers, *table]:
        cells = [r[i] + " " * (visible_width[i] - len(_strip(r[i])) + 2) for i in range(4)] + [r[4]]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _strip(text: str) -> str:
    return _ANSI.sub("", text)
