"""Each file in invalid/ fails lint with exactly the errors its `# expect: PATH :: MESSAGE` lines name."""
from __future__ import annotations

from pathlib import Path

import pytest

from tiphys.core.validate import lint_texts

CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def _expectations(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        if line.startswith("# expect: "):
            path, _, message = line[len("# expect: "):].partition("::")
            out.append((path.strip(), message.strip()))
    return out


def test_corpus_is_large_enough():
    """At least 40 invalid workflows, one or more per lint rule."""
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_invalid_workflow(path):
    """The file fails with the expected message at the expected path, and nothing else."""
    text = path.read_bytes()
    expected = _expectations(text.decode())
    assert expected, f"{path.name} has no '# expect:' line"
    [report] = lint_texts([(path.name, text)])
    errors = report.errors
    assert len(errors) == len(expected), "\n".join(str(e) for e in errors)
    for want_path, want_message in expected:
        matches = [e for e in errors if e.path == want_path and want_message in e.message]
        assert matches, f"no error at {want_path!r} containing {want_message!r}; got:\n" + "\n".join(map(str, errors))
        for e in matches:
            assert e.location.source == path.name
            if want_path:
                assert e.location.line is not None, f"{e} has no line"
