"""One suite, two schedulers (STYLE 9): every test taking `impl` runs on the reference and on Cython."""
from __future__ import annotations

import pytest

from tiphys.core.dag import ReferenceScheduler

try:
    from tiphys.core.dag.fast import FastScheduler
except ImportError as exc:  # not built: those runs skip, the reference runs still count
    FastScheduler = None
    _WHY = f"Cython extension tiphys.core._fast._dag not built ({exc}); run `pip install --no-build-isolation -e .`"
else:
    _WHY = ""

IMPLS = [
    pytest.param(ReferenceScheduler, id="reference"),
    pytest.param(FastScheduler, id="fast",
                 marks=pytest.mark.skipif(FastScheduler is None, reason=_WHY or "n/a")),
]


@pytest.fixture(params=IMPLS)
def impl(request):
    """The scheduler class under test."""
    return request.param


from tiphys.core.dag import depends as _depends  # noqa: E402

#: The depends parsers (PEP 399: the Cython one must pass the reference's suite).
PARSER_NAMES = [
    pytest.param("python", id="python"),
    pytest.param("native", id="native",
                 marks=pytest.mark.skipif("native" not in _depends.PARSERS,
                                       reason="Cython extension tiphys.core._fast._depends not built; "
                                              "run `pip install --no-build-isolation -e .`")),
]


@pytest.fixture(params=PARSER_NAMES)
def parser(request, monkeypatch):
    """A depends parser, installed as the one `parse_depends` and `compile_dag` use."""
    chosen = _depends.PARSERS[request.param]
    monkeypatch.setattr(_depends, "PARSER", chosen)
    _depends._parse_cached.cache_clear()  # trees cached from the other parser would hide a bug
    yield chosen
    _depends._parse_cached.cache_clear()
