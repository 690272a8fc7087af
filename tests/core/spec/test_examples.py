"""Every document of Argo's examples decodes, and encodes back to an equal object."""
from __future__ import annotations

import msgspec
import pytest

from tests.conftest import argo_examples
from tiphys.core.spec import KINDS, decode_document, load_text

EXAMPLES = argo_examples()


def _strip_nulls(value):
    """An explicit null reads as absent (Go semantics), so it is not written back."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


@pytest.mark.skipif(not EXAMPLES, reason="Argo examples not found at ../shared/argo/examples")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_round_trips(path):
    """Decode then encode gives back the document (modulo key order and explicit nulls)."""
    docs = load_text(path.read_bytes(), source=str(path))
    assert docs, f"{path} holds no document"
    for doc in docs:
        if doc.kind not in KINDS:
            assert not str(doc.body.get("apiVersion", "")).startswith("argoproj.io"), doc.kind
            continue
        resource, _warnings = decode_document(doc, strict=False)
        assert type(resource).__name__ == doc.kind
        back = msgspec.json.decode(msgspec.json.encode(resource))
        assert back == _strip_nulls(doc.body)


def test_examples_were_found():
    """The corpus is the one Argo ships (about 200 files), not an empty folder."""
    if not EXAMPLES:
        pytest.skip("Argo examples not found at ../shared/argo/examples")
    assert len(EXAMPLES) > 150
