"""Helpers for the deploy/ tests: render a kustomize base with kubectl, pick documents.

kubectl is the one tool here not pulled in by pip: the tests that render or apply skip
with a clear message when it is not on PATH (the project's machines ship it as a Debian
package). Everything that can be checked without it reads the YAML files directly.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

__all__ = ["REPO", "DEPLOY", "BASES", "INSTALLS", "INSTALL_NAMESPACE", "kubectl", "render", "overlay",
           "one", "load_yaml", "controller_container"]

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASES = ("crds", "namespace-install", "cluster-install")
INSTALLS = ("namespace-install", "cluster-install")
INSTALL_NAMESPACE = "argo"


def kubectl(*args: str, kubeconfig: Path | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run kubectl; fail the test with its stderr when it exits non-zero."""
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.skip("kubectl is not on PATH (Debian package `kubectl`); needed to render deploy/ bases")
    argv = [exe, *(["--kubeconfig", str(kubeconfig)] if kubeconfig else []), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(argv[1:])} exited {proc.returncode}:\n{proc.stderr.strip()}", pytrace=False)
    return proc


def render(base: str | Path, /) -> list[dict[str, Any]]:
    """The documents `kubectl kustomize` builds from a base (a name under deploy/ or a path)."""
    path = DEPLOY / base if isinstance(base, str) else base
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(path)).stdout) if d]


def overlay(directory: Path, base: str, /, *, namespace: str) -> Path:
    """Write an overlay of a deploy/ base that installs it into another namespace.

    This is how a user moves the install, so it also shows the bases compose: kustomize
    must carry the namespace into the ClusterRoleBinding subjects.
    """
    directory.mkdir(parents=True, exist_ok=True)
    # kustomize refuses absolute resource paths
    rel = os.path.relpath(DEPLOY / base, directory)
    (directory / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"namespace: {namespace}\nresources:\n- {rel}\n")
    return directory


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None, /) -> dict[str, Any]:
    """The single document of `kind` (and `name`); fails naming what was there instead."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        have = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
        pytest.fail(f"expected one {kind} {name or ''} among {have}, found {len(found)}", pytrace=False)
    return found[0]


def load_yaml(path: Path, /) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def controller_container(deployment: dict[str, Any], /) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "workflow-controller")
