"""Reading Argo documents from YAML or JSON text, safely and with locations.

YAML is read as kubectl reads it (sigs.k8s.io/yaml over go-yaml: YAML 1.1 scalars, so `yes` is a
bool, but timestamps stay strings). The text is composed into a node tree by libyaml, then turned
into plain JSON-like values by our own walk, which
- records the line of every path, so each later error can name `file:line` and a field path;
- counts every value it builds, so an alias bomb ("billion laughs") stops at a budget instead of
  eating memory; aliases are expanded as kubectl expands them;
- bounds nesting depth before libyaml sees the text, because its composer recurses in C.

Nothing here knows Argo's types: `tiphys.core.spec.decode` turns a `Document` into a Struct.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import yaml

from tiphys.core.spec.errors import Location, Path, SpecError

__all__ = ["Document", "Limits", "load_text", "format_path"]

try:  # libyaml; the pure-Python loader is the same grammar, only slower
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader


class _Loader(_Base):
    """SafeLoader without the timestamp resolver: kubectl reads `2024-01-01` as a string."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in _Base.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Limits:
    """Bounds on one input file: Kubernetes' own request limit is 3 MiB, so 8 MiB is generous."""

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 64
    max_values: int = 2_000_000  # after alias expansion


@dataclass
class Document:
    """One YAML/JSON document: its plain value, and where each of its paths came from."""

    source: str
    index: int
    body: Any
    lines: dict[Path, int] = field(default_factory=dict)
    warnings: list[SpecError] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.body.get("kind", "") if isinstance(self.body, dict) else ""

    @property
    def name(self) -> str:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        if not isinstance(meta, dict):
            return ""
        return str(meta.get("name") or meta.get("generateName") or "")

    def line_of(self, path: Path) -> int | None:
        """The line of the deepest known prefix of `path` (fields absent from the text have none)."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return None

    def where(self, path: Path) -> Location:
        return Location(self.source, self.line_of(path), tuple(path), self.index)


def format_path(path: Path) -> str:
    out = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        else:
            out.append(("." if out else "") + str(part))
    return "".join(out)


def load_text(text: str | bytes, /, *, source: str = "<input>", limits: Limits = Limits()) -> list[Document]:
    """Parse every document in `text`. Raises SpecError (with a line) on malformed input."""
    if len(text) > limits.max_bytes:
        raise SpecError(Location(source, None, (), 0),
                        f"document is {len(text)} bytes, over the {limits.max_bytes}-byte limit")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SpecError(Location(source, None, (), 0), f"not UTF-8 text (byte {exc.start})") from None
    _check_flow_depth(text, source, limits)
    docs: list[Document] = []
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        what = exc.problem or exc.context or "malformed YAML"
        raise SpecError(Location(source, line, (), len(docs)), f"malformed YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise SpecError(Location(source, None, (), 0), f"malformed YAML: {exc}") from None
    budget = [limits.max_values]
    for index, node in enumerate(n for n in nodes if n is not None):
        doc = Document(source, index, None)
        size = _expanded_size(node, {}, limits.max_values)
        if size > limits.max_values:
            raise SpecError(Location(source, node.start_mark.line + 1, (), index),
                            f"document expands to more than {limits.max_values} values (alias bomb?)")
        doc.body = _Builder(doc, budget, limits).build(node)
        docs.append(doc)
    return docs


def _expanded_size(node: yaml.Node, memo: dict[int, int], cap: int) -> int:
    """Values the node stands for once aliases are expanded; shared nodes are sized once."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = cap + 1  # a node met again while being sized is a cycle: over budget
    total = 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, cap) + _expanded_size(v, memo, cap)
            if total > cap:
                break
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            total += _expanded_size(item, memo, cap)
            if total > cap:
                break
    memo[key] = total
    return total


def _check_flow_depth(text: str, source: str, limits: Limits) -> None:
    """Reject deep `[[[[...` / `{{{{...` before libyaml's recursive composer sees them.

    Block nesting needs two columns of indentation per level, so it is bounded by the line
    length; flow nesting is not, so count brackets (a rough count: quoted brackets are counted
    too, which only makes the bound stricter for text nobody writes).
    """
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limits.max_depth * 4:
                    break
        elif ch in "]}":
            depth -= 1
    indent = max((len(line) - len(line.lstrip(" ")) for line in text.splitlines()), default=0)
    if deepest > limits.max_depth * 4 or indent > limits.max_depth * 8:
        raise SpecError(Location(source, None, (), 0), f"nesting deeper than {limits.max_depth} levels")


class _Builder:
    """Turns a composed node tree into JSON-like values, recording lines and bounding size."""

    def __init__(self, doc: Document, budget: list[int], limits: Limits) -> None:
        self.doc = doc
        self.budget = budget
        self.limits = limits
        self.constructor = _Loader("")  # only its scalar constructors are used

    def build(self, node: yaml.Node) -> Any:
        return self._value(node, ())

    def _spend(self, node: yaml.Node, path: Path) -> None:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise SpecError(self.doc.where(path)._replace(line=node.start_mark.line + 1),
                            f"document expands to more than {self.limits.max_values} values (alias bomb?)")
        if len(path) > self.limits.max_depth:
            raise SpecError(Location(self.doc.source, node.start_mark.line + 1, path, self.doc.index),
                            f"nesting deeper than {self.limits.max_depth} levels")

    def _value(self, node: yaml.Node, path: Path) -> Any:
        self._spend(node, path)
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            self.constructor.flatten_mapping(node)
            for key_node, value_node in node.value:
                key = self._key(key_node, path)
                if key in out:
                    self.doc.warnings.append(SpecError(
                        Location(self.doc.source, key_node.start_mark.line + 1, path + (key,), self.doc.index),
                        f"duplicate key {key!r}; the last value wins", severity="warning"))
                child = path + (key,)
                self.doc.lines[child] = key_node.start_mark.line + 1
                out[key] = self._value(value_node, child)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._value(item, path + (i,)) for i, item in enumerate(node.value)]
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError(Location(self.doc.source, node.start_mark.line + 1, path, self.doc.index),
                            f"unreadable value: {exc.problem}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise SpecError(Location(self.doc.source, node.start_mark.line + 1, path, self.doc.index),
                            f"{node.value!r} is not a number JSON can hold")
        if isinstance(value, bytes):  # !!binary: kubectl keeps the base64 text
            return node.value
        return value

    def _key(self, node: yaml.Node, path: Path) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise SpecError(Location(self.doc.source, node.start_mark.line + 1, path, self.doc.index),
                            "mapping keys must be scalars")
        value = self.constructor.construct_object(node)
        if isinstance(value, str):
            return value
        # go-yaml then JSON: a non-string key becomes its JSON text (`yes:` -> "true")
        return json.dumps(value) if not isinstance(value, float) else str(value)
