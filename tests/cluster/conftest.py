"""Load the cluster plugin for this directory's tests unless the root conftest already did.

Registering it twice would define the session-scoped ``cluster`` fixture twice and start
two clusters, so look for the plugin module by file before importing it.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

_PLUGIN_FILE = Path(__file__).with_name("fixture.py").resolve()


def pytest_configure(config: pytest.Config) -> None:
    for plugin in config.pluginmanager.get_plugins():
        path = getattr(plugin, "__file__", None)
        if path and Path(path).resolve() == _PLUGIN_FILE:
            return
    module = importlib.import_module(f"{__package__}.fixture")
    config.pluginmanager.register(module, module.__name__)
