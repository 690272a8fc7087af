"""etcd + kube-apiserver (+ kube-controller-manager) on loopback, for one test session.

:func:`start` turns a directory of binaries into a running control plane:

1. generate a CA, a serving certificate, a service-account key and two bearer tokens
   (``_pki``): ``admin`` in ``system:masters``, and ``tiphys-unprivileged`` with no
   groups and no bindings, so RBAC has something to deny; plus a client certificate for
   ``cert-admin`` (system:masters), the other way kubeconfigs authenticate;
2. start etcd on two free ports and wait for ``/health``;
3. start kube-apiserver with the flags of ``reference/kubernetes-test-cluster.md`` §3.2
   and wait for ``/readyz`` (anonymous reads of it are allowed by bootstrap RBAC, and
   it waits for the RBAC bootstrap post-start hook);
4. start kube-controller-manager, when built, with only the ``garbagecollector`` and
   ``namespace`` controllers, so ownerReferences cascade and namespaces really go away;
5. install the CRDs and wait until each is ``Established``.

Ports are picked free just before use; if another process grabs one in between, the
apiserver or etcd exits with "address already in use" and the whole start is retried.
:meth:`ControlPlane.stop` is idempotent and safe to call from ``atexit`` or a signal
handler; children also die with the pytest process through ``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._pki import Identity, make_pki, write_kubeconfig, write_token_file
from ._procs import Child, ChildExited, free_port, wait_http_ok
from ._rest import HttpStatusError, Rest

__all__ = ["ControlPlane", "Binaries", "start", "load_crds"]

ADMIN_USER = "admin"
UNPRIVILEGED_USER = "tiphys-unprivileged"
_START_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Binaries:
    """Where the three executables are; ``kube_controller_manager`` is optional."""

    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path | None

    @classmethod
    def from_dir(cls, directory: Path, /) -> Binaries:
        missing = [n for n in ("etcd", "kube-apiserver") if not (directory / n).is_file()]
        if missing:
            raise FileNotFoundError(f"test binaries {missing} are not in {directory}")
        kcm = directory / "kube-controller-manager"
        return cls(directory / "etcd", directory / "kube-apiserver", kcm if kcm.is_file() else None)


@dataclass(slots=True)
class ControlPlane:
    """A running control plane. Attributes are what tests and clients need to connect."""

    binaries: Binaries
    workdir: Path
    server: str
    ca_cert: Path
    admin: Identity
    unprivileged: Identity
    kubeconfig: Path
    unprivileged_kubeconfig: Path
    cert_kubeconfig: Path
    etcd_url: str
    etcd_prefix: str
    children: list[Child]
    crds: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def admin_token(self) -> str:
        return self.admin.token

    @property
    def unprivileged_token(self) -> str:
        return self.unprivileged.token

    @property
    def has_controller_manager(self) -> bool:
        return any(c.name == "kube-controller-manager" for c in self.children)

    def rest(self, *, token: str | None = None) -> Rest:
        """A small sync JSON client; the admin's token unless another is given."""
        return Rest(self.server, ca_cert=self.ca_cert, token=token or self.admin.token)

    def create_namespace(self, prefix: str = "t", /, *, labels: dict[str, str] | None = None) -> str:
        """Create a uniquely named namespace and return its name."""
        name = f"{prefix[:50].rstrip('-')}-{secrets.token_hex(3)}"
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = labels
        self.rest().post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        return name

    def delete_namespace(self, name: str, /) -> None:
        """Delete a namespace; without kube-controller-manager it stays Terminating (harmless)."""
        try:
            self.rest().delete(f"/api/v1/namespaces/{name}")
        except HttpStatusError as exc:
            if exc.status != 404:
                raise

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def log_tails(self, lines: int = 30) -> dict[str, str]:
        return {c.name: c.tail(lines) for c in self.children}

    def stop(self) -> None:
        # Reverse order: the controller manager and apiserver shut down while etcd
        # still answers, which keeps their logs free of spurious connection errors.
        for child in reversed(self.children):
            child.stop()


def load_crds(paths: Iterable[Path], /) -> list[dict[str, Any]]:
    """Every ``CustomResourceDefinition`` document in the given YAML files."""
    crds = []
    for path in sorted(paths):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from exc
        crds.extend(
            d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"
        )
    return crds


def _etcd_argv(binary: Path, data: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [
        str(binary), "--name=t", f"--data-dir={data}", "--unsafe-no-fsync",
        f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=t={peer}", "--log-level=warn",
    ]


def _apiserver_argv(
    binary: Path, workdir: Path, port: int, etcd_url: str, prefix: str, extra: Sequence[str]
) -> list[str]:
    pki = workdir / "pki"
    return [
        str(binary),
        f"--etcd-servers={etcd_url}", f"--etcd-prefix={prefix}",
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
        f"--tls-cert-file={pki / 'serving.crt'}", f"--tls-private-key-file={pki / 'serving.key'}",
        f"--token-auth-file={workdir / 'tokens.csv'}", f"--client-ca-file={pki / 'ca.crt'}",
        "--authorization-mode=RBAC",
        f"--service-account-issuer=https://127.0.0.1:{port}/",
        f"--service-account-key-file={pki / 'sa.key'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--service-cluster-ip-range=10.0.0.0/24", "--allow-privileged=true",
        # No kube-controller-manager serviceaccount controller => no `default` SA => the
        # plugin would reject every pod (envtest disables it for the same reason).
        "--disable-admission-plugins=ServiceAccount",
        "--endpoint-reconciler-type=none",
        *extra,
    ]


def _kcm_argv(binary: Path, workdir: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={workdir / 'admin.kubeconfig'}",
        "--controllers=garbagecollector,namespace",
        "--leader-elect=false", "--secure-port=0",
        f"--root-ca-file={workdir / 'pki' / 'ca.crt'}",
        f"--service-account-private-key-file={workdir / 'pki' / 'sa.key'}",
        "--use-service-account-credentials=false",
    ]


def _start_once(
    binaries: Binaries, workdir: Path, *, apiserver_args: Sequence[str], timeout: float,
    timings: dict[str, float],
) -> ControlPlane:
    admin = Identity.random(ADMIN_USER, groups=("system:masters",))
    unprivileged = Identity.random(UNPRIVILEGED_USER)
    pki = make_pki(workdir / "pki")
    write_token_file(workdir / "tokens.csv", (admin, unprivileged))
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)

    t0 = time.monotonic()
    ec, ep, ap = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{ec}"
    data = workdir / f"etcd-{uuid.uuid4().hex[:8]}"
    children: list[Child] = []
    server = f"https://127.0.0.1:{ap}"
    plane = ControlPlane(
        binaries=binaries, workdir=workdir, server=server, ca_cert=pki.ca_cert, admin=admin,
        unprivileged=unprivileged, kubeconfig=workdir / "admin.kubeconfig",
        unprivileged_kubeconfig=workdir / "unprivileged.kubeconfig",
        cert_kubeconfig=workdir / "cert.kubeconfig", etcd_url=etcd_url,
        etcd_prefix=f"/t-{secrets.token_hex(4)}", children=children, timings=timings,
    )
    try:
        etcd = Child("etcd", _etcd_argv(binaries.etcd, data, ec, ep), log_path=logs / "etcd.log")
        children.append(etcd)
        timings["etcd"] = wait_http_ok(
            f"{etcd_url}/health", timeout=timeout, alive=etcd.check_alive, what="etcd")

        t1 = time.monotonic()
        argv = _apiserver_argv(
            binaries.kube_apiserver, workdir, ap, etcd_url, plane.etcd_prefix, apiserver_args)
        api = Child("kube-apiserver", argv, log_path=logs / "kube-apiserver.log")
        children.append(api)
        wait_http_ok(
            f"{server}/readyz", timeout=timeout, alive=plane.check_alive, what="kube-apiserver",
            ssl_context=plane.rest().ssl_context)
        timings["kube-apiserver"] = time.monotonic() - t1
        write_kubeconfig(plane.kubeconfig, server=server, ca_cert=pki.ca_cert, identity=admin)
        write_kubeconfig(plane.cert_kubeconfig, server=server, ca_cert=pki.ca_cert,
                         client_cert=(pki.client_cert, pki.client_key))
        write_kubeconfig(
            plane.unprivileged_kubeconfig, server=server, ca_cert=pki.ca_cert,
            identity=unprivileged)
        timings["control-plane"] = time.monotonic() - t0
    except BaseException:
        plane.stop()
        raise
    return plane


def _install_crds(plane: ControlPlane, crds: Sequence[dict[str, Any]], *, timeout: float) -> None:
    rest = plane.rest()
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in crds:
        try:
            rest.post(path, crd)
        except HttpStatusError as exc:
            if exc.status != 409:  # already there: a shared etcd prefix never happens, but be kind
                raise
    deadline = time.monotonic() + timeout
    pending = {crd["metadata"]["name"]: crd for crd in crds}
    while pending:
        for name, crd in sorted(pending.items()):
            if _served(rest, path, crd):
                del pending[name]
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRDs not served after {timeout:.0f} s: {sorted(pending)}")
            plane.check_alive()
            time.sleep(0.05)
    plane.crds = tuple(crd["metadata"]["name"] for crd in crds)


def _served(rest: Rest, path: str, crd: dict[str, Any]) -> bool:
    """Established, and every served version lists without 429 "storage is (re)initializing".

    `Established` only means the name is accepted; the watch cache behind the new endpoint
    initialises a moment later and answers 429 until then, which would make the first test
    to touch a custom resource flaky.
    """
    status = rest.get(f"{path}/{crd['metadata']['name']}").get("status") or {}
    if not any(c.get("type") == "Established" and c.get("status") == "True"
               for c in status.get("conditions") or ()):
        return False
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        try:
            rest.get(f"/apis/{group}/{version['name']}/{plural}?limit=1")
        except HttpStatusError as exc:
            if exc.status in (404, 429, 503):
                return False
            raise
    return True


def start(
    binaries: Binaries,
    workdir: Path,
    /,
    *,
    crds: Sequence[dict[str, Any]] = (),
    apiserver_args: Sequence[str] = (),
    controller_manager: bool = True,
    timeout: float = 60.0,
) -> ControlPlane:
    """Start the control plane in ``workdir``; the caller must :meth:`~ControlPlane.stop` it."""
    timings: dict[str, float] = {}
    for attempt in range(1, _START_ATTEMPTS + 1):
        try:
            plane = _start_once(
                binaries, workdir, apiserver_args=apiserver_args, timeout=timeout, timings=timings)
            break
        except ChildExited as exc:
            # A free port taken between our probe and the bind: pick new ones.
            if "address already in use" not in exc.log_tail or attempt == _START_ATTEMPTS:
                raise
    try:
        t = time.monotonic()
        _install_crds(plane, crds, timeout=timeout)
        timings["crds"] = time.monotonic() - t
        # After the CRDs: the garbage collector discovers resources at start and then only
        # every 30 s, so custom resources installed later would not cascade for a while.
        if controller_manager and binaries.kube_controller_manager is not None:
            t = time.monotonic()
            _start_controller_manager(plane, binaries.kube_controller_manager, timeout=timeout)
            timings["kube-controller-manager"] = time.monotonic() - t
    except BaseException:
        plane.stop()
        raise
    return plane


def _start_controller_manager(plane: ControlPlane, binary: Path, *, timeout: float) -> None:
    """Start KCM and wait until its garbage collector demonstrably collects.

    KCM has no readiness signal for "all GC monitors synced" (its /healthz is up before), so
    probe the behaviour itself: an owned ConfigMap must vanish after its owner is deleted.
    The GC starts collecting only once every monitor (custom resources included) synced.
    """
    plane.children.append(Child(
        "kube-controller-manager", _kcm_argv(binary, plane.workdir),
        log_path=plane.workdir / "logs" / "kube-controller-manager.log"))
    rest = plane.rest()
    ns = plane.create_namespace("gc-probe")
    base = f"/api/v1/namespaces/{ns}/configmaps"
    owner = rest.post(base, {"metadata": {"name": "owner"}})
    rest.post(base, {"metadata": {"name": "child", "ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}]}})
    rest.delete(f"{base}/owner")
    deadline = time.monotonic() + timeout
    while True:
        try:
            rest.get(f"{base}/child")
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"kube-controller-manager: garbage collection not working after {timeout:.0f} s")
        plane.check_alive()
        time.sleep(0.1)
    plane.delete_namespace(ns)
