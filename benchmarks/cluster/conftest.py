"""Load the cluster plugin (tests/cluster/fixture.py) for these benchmarks, once.

The root `tests/conftest.py` registers it for `tests/`; a benchmark run does not load that
conftest, so look for the plugin module by file before importing it (twice would start two
clusters). The repository root goes on `sys.path` first: a plain `pytest benchmarks/cluster`
(not `python -m pytest`) would not find the `tests` package otherwise.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
_PLUGIN_FILE = _ROOT / "tests" / "cluster" / "fixture.py"
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))


def pytest_configure(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == _PLUGIN_FILE:
            return
    module = importlib.import_module("tests.cluster.fixture")
    config.pluginmanager.register(module, module.__name__)
