"""pytest plugin: a real kube-apiserver + etcd for the whole test session.

Fixtures
--------
``cluster`` (session)
    A running :class:`~._control_plane.ControlPlane`: ``server`` (https URL),
    ``ca_cert``, ``admin_token``, ``unprivileged_token``, ``kubeconfig`` (admin),
    ``unprivileged_kubeconfig``, ``cert_kubeconfig`` (client certificate, system:masters),
    ``crds``, ``create_namespace()``, ``rest()``.
``cluster_namespace`` (function)
    A fresh namespace named after the test, deleted afterwards.

Binaries come from ``$TIPHYS_TESTBIN_DIR`` when set, else from ``testbin/build.sh``,
which returns the cache directory at once when the binaries exist and builds them
(minutes, once per machine) when they do not. Without Go and without binaries the
cluster tests are skipped with the reason; any other build failure is an error.

CRDs come from ``deploy/`` (every ``CustomResourceDefinition`` document in its YAML
files) when it has any, else from ``../shared/argo/crds/minimal``. When a test that
used the cluster fails, the tails of the process logs are attached to its report; the
scratch directory (logs included) is kept when the session had failures.

Register it from the root ``tests/conftest.py`` with
``pytest_plugins = ["tests.cluster.fixture"]``; ``tests/cluster/conftest.py`` imports
it for this directory's own tests.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._control_plane import Binaries, ControlPlane, load_crds, start

__all__ = [
    "cluster",
    "cluster_namespace",
    "running_cluster",
    "pytest_runtest_makereport",
    "pytest_terminal_summary",
    "REPO_ROOT",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
_BUILD_SCRIPT = REPO_ROOT / "testbin" / "build.sh"
_SHARED_CRDS = REPO_ROOT.parent / "shared" / "argo" / "crds" / "minimal"
_EXIT_CANNOT_BUILD = 3
_SECTION = "tiphys cluster logs"
# The one plane of this process, so hooks can reach it without the fixture.
_current: list[ControlPlane] = []
# Start-up timings of every plane this process ran, for the terminal summary.
_timings: list[dict[str, float]] = []


def _find_binaries(config: pytest.Config) -> Binaries:
    override = os.environ.get("TIPHYS_TESTBIN_DIR")
    if override:
        return Binaries.from_dir(Path(override))
    if not _BUILD_SCRIPT.is_file():
        pytest.skip(f"cluster tests need {_BUILD_SCRIPT} or TIPHYS_TESTBIN_DIR")
    # Show the (possibly long) build's progress instead of a silent pause.
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        proc = subprocess.run(
            ["bash", str(_BUILD_SCRIPT), "--print-dir"], stdout=subprocess.PIPE, text=True)
    if proc.returncode == _EXIT_CANNOT_BUILD:
        pytest.skip("cluster tests: no test binaries and no Go toolchain to build them "
                    "(see testbin/build.sh)")
    if proc.returncode != 0:
        pytest.fail(f"testbin/build.sh failed with status {proc.returncode}", pytrace=False)
    return Binaries.from_dir(Path(proc.stdout.strip().splitlines()[-1]))


def _crd_documents() -> list[dict]:
    deploy = REPO_ROOT / "deploy"
    if deploy.is_dir():
        found = load_crds([*deploy.rglob("*.yaml"), *deploy.rglob("*.yml")])
        if found:
            return found
    if _SHARED_CRDS.is_dir():
        return load_crds(_SHARED_CRDS.glob("*.yaml"))
    return []


def _install_stop_handlers(plane: ControlPlane) -> Callable[[], None]:
    """Stop the plane at interpreter exit and on SIGTERM (SIGKILL is PDEATHSIG's job).

    Returns the function that removes both handlers again.
    """
    atexit.register(plane.stop)
    if threading.current_thread() is not threading.main_thread():
        return lambda: atexit.unregister(plane.stop)
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: object) -> None:
        plane.stop()
        signal.signal(signal.SIGTERM, previous)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            os.kill(os.getpid(), signal.SIGTERM)  # SIG_DFL: die of it, as without us

    signal.signal(signal.SIGTERM, on_sigterm)

    def uninstall() -> None:
        atexit.unregister(plane.stop)
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return uninstall


@contextlib.contextmanager
def running_cluster(config: pytest.Config, session: pytest.Session) -> Iterator[ControlPlane]:
    """The body of the `cluster` fixture, for callers that cannot request the fixture."""
    binaries = _find_binaries(config)
    workdir = Path(tempfile.mkdtemp(prefix="tiphys-cluster-"))
    plane = start(binaries, workdir, crds=_crd_documents())
    _current.append(plane)
    _timings.append(plane.timings)
    uninstall = _install_stop_handlers(plane)
    try:
        yield plane
    finally:
        plane.stop()
        _current.remove(plane)
        uninstall()
        if session.testsfailed or os.environ.get("TIPHYS_CLUSTER_KEEP"):
            print(f"\ntiphys cluster: logs and data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver (+ kube-controller-manager) with Argo's CRDs."""
    with running_cluster(request.config, request.session) as plane:
        yield plane


@pytest.fixture
def cluster_namespace(cluster: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, named after it, deleted afterwards."""
    prefix = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-") or "t"
    name = cluster.create_namespace(prefix[:40])
    yield name
    cluster.delete_namespace(name)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or not _current or "cluster" not in getattr(item, "fixturenames", ()):
        return
    # The plugin may be registered twice (root conftest and ours): add the section once.
    if any(title.startswith(_SECTION) for title, _ in report.sections):
        return
    plane = _current[-1]
    for name, tail in plane.log_tails().items():
        state = "running" if all(c.alive() for c in plane.children if c.name == name) else "EXITED"
        report.sections.append((f"{_SECTION}: {name} ({state}), last lines", tail))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for timings in _timings:
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
        terminalreporter.write_line(f"tiphys cluster start-up: {parts}")
