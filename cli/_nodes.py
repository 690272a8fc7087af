"""`--node-field-selector`: kubernetes field-selector syntax over a workflow's nodes (§5.12).

Fields: `displayName`, `templateName`, `phase`, `name`, `id`, `type`, `templateRef.name`,
`templateRef.template`, `inputs.parameters.<p>.value`; operators `=`, `==`, `!=`; terms joined
by `,` must all hold. Nodes are the plain JSON dicts of `status.nodes`.
"""
from __future__ import annotations

import re

from tiphys.cli._client import CliError

__all__ = ["NodeSelector"]

_TERM = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(==|!=|=)\s*(.*?)\s*$")
_FIXED = {"displayName", "templateName", "phase", "name", "id", "type", "templateRef.name",
          "templateRef.template", "boundaryID"}
_PARAM = re.compile(r"^inputs\.parameters\.(.+)\.value$")


class NodeSelector:
    """A parsed selector; `matches(node)` tells whether a node dict satisfies every term."""

    def __init__(self, text: str, /) -> None:
        self.text = text
        self.terms: list[tuple[str, bool, str]] = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            m = _TERM.match(part)
            if m is None:
                raise CliError(f"--node-field-selector: {part!r} is not FIELD=VALUE, FIELD==VALUE or FIELD!=VALUE")
            field, op, value = m.groups()
            if field not in _FIXED and not _PARAM.match(field):
                raise CliError(f"--node-field-selector: unknown field {field!r} (known: {', '.join(sorted(_FIXED))}, "
                               "inputs.parameters.<name>.value)")
            self.terms.append((field, op != "!=", value))
        if not self.terms:
            raise CliError("--node-field-selector: empty selector")

    @staticmethod
    def _value(node: dict, field: str) -> str:
        if field.startswith("templateRef."):
            return str((node.get("templateRef") or {}).get(field.split(".", 1)[1]) or "")
        m = _PARAM.match(field)
        if m:
            for p in (node.get("inputs") or {}).get("parameters") or []:
                if p.get("name") == m.group(1):
                    return str(p.get("value") or "")
            return ""
        return str(node.get(field) or "")

    def matches(self, node: dict, /) -> bool:
        return all((self._value(node, f) == v) == eq for f, eq, v in self.terms)
