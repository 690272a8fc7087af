"""Load the real-cluster plugin (tests/cluster/fixture.py) for these tests, once per session.

Same guard as tests/cluster/conftest.py: registering the plugin twice would start two clusters.
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

_PLUGIN_FILE = (Path(__file__).resolve().parents[3] / "cluster" / "fixture.py").resolve()


def pytest_configure(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == _PLUGIN_FILE:
            return
    module = importlib.import_module("tests.cluster.fixture")
    config.pluginmanager.register(module, module.__name__)
