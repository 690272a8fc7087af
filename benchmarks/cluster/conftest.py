"""Load the cluster plugin (tests/cluster/fixture.py) for these benchmarks, once.

The root `tests/conftest.py` registers it for `tests/`; a benchmark run does not load that
conftest, so look for the plugin module by file before importing it (twice would start two
clusters).
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

_PLUGIN_FILE = Path(__file__).resolve().parents[2] / "tests" / "cluster" / "fixture.py"


def pytest_configure(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == _PLUGIN_FILE:
            return
    module = importlib.import_module("tests.cluster.fixture")
    config.pluginmanager.register(module, module.__name__)
