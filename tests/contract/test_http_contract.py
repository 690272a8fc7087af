"""The contract suite again, against a real kube-apiserver through `HttpApi`.

Every `test_contract_*.py` module beside this one is imported and its tests re-collected
here, where the `backend` fixture below overrides the conftest's: one param, the real API
server of `tests/cluster` (etcd + kube-apiserver, plus kube-controller-manager for garbage
collection). The embedded runs are untouched; new contract modules join automatically.
Marked `cluster`: deselect with `-m "not cluster"`.

The cluster is the session's `cluster` fixture when the `tests.cluster.fixture` plugin is
registered (root conftest, or `tests/cluster/conftest.py` when that directory is collected
too); otherwise this module starts one itself, once per session.

What the real server cannot do on demand: `compact()` skips, because etcd compaction does
not shrink the apiserver's watch cache, which keeps serving watches from older
resourceVersions (a too-old RV still gives 410: see tests/controller/api/test_http.py).
"""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tiphys.controller.api import NAMESPACES, Api, NotFound
from tiphys.controller.api._http_config import static_token
from tiphys.controller.api.http import HttpApi, HttpConfig

from ..cluster.fixture import running_cluster
from .conftest import Backend

# Namespaces the suite uses beside `ns` itself (e.g. `ns + "-b"`); a real server needs them.
_NAMESPACE_SUFFIXES = ("", "-b", "-x", "-other")

for _path in sorted(Path(__file__).parent.glob("test_contract_*.py")):
    _module = importlib.import_module(f"{__package__}.{_path.stem}")
    globals().update({k: v for k, v in vars(_module).items() if k.startswith("test_")})


class KubeBackend(Backend):
    """The HTTP client against the session cluster, as the admin user."""

    def __init__(self, tmp_path: Path, cluster) -> None:
        super().__init__(tmp_path)
        self.cluster = cluster
        self.garbage_collector = cluster.has_controller_manager

    async def open(self) -> Api:
        config = HttpConfig(server=self.cluster.server, ca_cert=str(self.cluster.ca_cert),
                            token=static_token(self.cluster.admin_token))
        self.api = HttpApi(config)
        return self.api

    async def prepare(self) -> None:
        for suffix in _NAMESPACE_SUFFIXES:
            await self.api.create(NAMESPACES, {"metadata": {"name": self.namespace + suffix}})

    async def close(self) -> None:
        if self.api is not None:
            for suffix in _NAMESPACE_SUFFIXES:
                try:
                    await self.api.delete(NAMESPACES, self.namespace + suffix)
                except NotFound:
                    pass
        await super().close()


# Where the suite asserts what the embedded store does but kube-apiserver v1.36.3 does not
# (observed against it; see the lead's report). Strict xfails: a fixed contract turns XPASS
# into a failure here, so the entry is removed rather than forgotten.
DIVERGENCES = {
    "test_watch_from_future_resource_version_times_out":
        "a watch from a future resourceVersion blocks (no response) until the RV exists; only "
        "a list answers 504 ResourceVersionTooLarge",
    "test_status_update_only_touches_status":
        "pod status is defaulted by the server (qosClass: BestEffort)",
    "test_status_patch":
        "pod status is defaulted by the server (qosClass: BestEffort)",
}
# Known to hang until the suite's timeout: do not run them at all.
_NOT_RUN = {"test_watch_from_future_resource_version_times_out"}


@pytest.fixture(autouse=True)
def _known_divergences(request) -> None:
    reason = DIVERGENCES.get(request.node.originalname)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(
            reason=f"kube-apiserver differs: {reason}", strict=True,
            run=request.node.originalname not in _NOT_RUN))


@pytest.fixture(scope="session")
def kube_cluster(request):
    try:
        plane = request.getfixturevalue("cluster")
    except pytest.FixtureLookupError:
        plane = None
    if plane is not None:
        yield plane
        return
    with running_cluster(request.config, request.session) as plane:
        yield plane


@pytest.fixture(params=[pytest.param(KubeBackend, id="kube-apiserver", marks=pytest.mark.cluster)])
def backend(request, tmp_path, kube_cluster) -> Backend:
    return request.param(tmp_path, kube_cluster)
