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
