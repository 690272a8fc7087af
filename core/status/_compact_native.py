"""The compact form's Cython loops, when built: `tiphys.core._fast._compact`, else None.

`_compact_encode` and `_compact_decode` are the specification and the fallback; the extension
does their per-node loops and writes byte-identical layouts. Without it (no compiler at install
time) the codec runs the pure-Python modules, about 5x slower, after one warning.
"""
from __future__ import annotations

import warnings
from types import ModuleType

__all__ = ["native"]

native: ModuleType | None
try:
    from tiphys.core._fast import _compact as native
except ImportError as exc:  # the extension is optional (setup.py falls back without a compiler)
    warnings.warn(f"tiphys.core.status: Cython compact codec unavailable ({exc}); using the pure-Python "
                  f"reference", RuntimeWarning, stacklevel=2)
    native = None
