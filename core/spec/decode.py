"""From a loaded Document to a typed resource, with every structural problem reported at once."""
from __future__ import annotations

from typing import Any

import msgspec

from tiphys.core.spec.check import check
from tiphys.core.spec.errors import SpecError, SpecErrors
from tiphys.core.spec.load import Document, Limits, load_text
from tiphys.core.spec.resources import GROUP_VERSION, KINDS

__all__ = ["decode_document", "load_resources", "encode", "to_builtins"]

_encoder = msgspec.json.Encoder()


def decode_document(doc: Document, /, *, strict: bool = False) -> tuple[Any, list[SpecError]]:
    """Decode one document into its Struct. Returns the resource and its warnings; raises SpecErrors.

    Unknown fields are warnings (errors when `strict`), as `kubectl --validate=warn` treats them.
    """
    body = doc.body
    if not isinstance(body, dict):
        raise SpecErrors([SpecError(doc.where(()), "a document must be a mapping with apiVersion and kind")])
    problems: list[SpecError] = list(doc.warnings)
    kind = body.get("kind")
    api_version = body.get("apiVersion")
    struct_type = KINDS.get(kind) if isinstance(kind, str) else None
    if struct_type is None:
        known = ", ".join(KINDS)
        raise SpecErrors([SpecError(doc.where(("kind",)), f"unknown kind {kind!r} (expected one of {known})",
                                    rule="kind")])
    if api_version != GROUP_VERSION:
        problems.append(SpecError(doc.where(("apiVersion",)),
                                  f"apiVersion must be {GROUP_VERSION!r}, got {api_version!r}", rule="apiVersion"))
    for p in check(body, struct_type):
        severity = "error" if strict else p.severity
        problems.append(SpecError(doc.where(p.path), p.message, severity=severity,
                                  rule="unknown-field" if p.severity == "warning" else "type"))
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise SpecErrors(errors)
    try:
        resource = msgspec.convert(body, struct_type)
    except msgspec.ValidationError as exc:  # the walk above should have caught it; keep the path anyway
        raise SpecErrors([SpecError(doc.where(()), str(exc), rule="type")]) from None
    return resource, problems


def load_resources(text: str | bytes, /, *, source: str = "<input>", strict: bool = False,
                   limits: Limits = Limits()) -> list[Any]:
    """Load and decode every document of a file; raises SpecErrors listing all problems found."""
    out, errors = [], []
    for doc in load_text(text, source=source, limits=limits):
        try:
            resource, _ = decode_document(doc, strict=strict)
            out.append(resource)
        except SpecErrors as exc:
            errors.extend(exc.errors)
    if errors:
        raise SpecErrors(errors)
    return out


def encode(resource: Any, /) -> bytes:
    """JSON bytes of a resource, absent fields omitted."""
    return _encoder.encode(resource)


def to_builtins(resource: Any, /) -> Any:
    return msgspec.to_builtins(resource)
