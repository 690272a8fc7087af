"""Reading a Prometheus text page and the Grafana dashboard's queries (shared by the cluster tests)."""
from __future__ import annotations

import json
import re

from tests.conftest import argo_path

__all__ = ["dashboard_metric_names", "exposed"]


def dashboard_metric_names() -> set[str]:
    """Every metric the Grafana dashboard queries, read off its `expr` fields."""
    data = json.loads(argo_path("examples", "grafana-dashboard.json").read_text())
    exprs: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    names: set[str] = set()
    for expr in exprs:
        for token in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*[{\[])", expr):
            if token not in {"rate", "delta", "sum", "histogram_quantile", "by"}:
                names.add(token)
    return names


def exposed(text: str) -> dict[str, list[tuple[str, float]]]:
    """Sample name -> [(labels, value)] of a text exposition."""
    out: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$", line)
        assert m, f"malformed exposition line: {line!r}"
        out.setdefault(m.group(1), []).append((m.group(2) or "", float(m.group(3))))
    return out
