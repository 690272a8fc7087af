"""The executor's one API client in a real pod: service-account token, CA, discovery.

`resource` runs its actions through it, `wait` and `resource` write their WorkflowTaskResult
through it (`taskresults.api_sink`), and the HTTP agent follows its task set with it.

Like kubectl's in-cluster config: the server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
the bearer token and CA come from `/var/run/secrets/kubernetes.io/serviceaccount/` (the token file
is re-read for every request: the kubelet rotates it), and the pod's namespace from the file there
(the controller also gives ARGO_NAMESPACE). Kinds are found by discovery, as kubectl's REST mapper
finds them: a manifest's `apiVersion` asks only its group/version's resource list; a TYPE argument
asks the preferred version of every group. So custom resources work here, unlike on the node agent.

aiohttp and msgspec only (both already dependencies): no generated client models.
"""
from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from .client import PatchKind
from .errors import KubeAlreadyExists, KubeConflict, KubeError, KubeNotFound, KubeUnsupportedMediaType, NotInCluster
from .kinds import KindInfo, KindTable

__all__ = ["SERVICE_ACCOUNT_DIR", "InClusterClient"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_CONTENT = {PatchKind.STRATEGIC: "application/strategic-merge-patch+json",
            PatchKind.MERGE: "application/merge-patch+json", PatchKind.JSON: "application/json-patch+json"}
_decode = msgspec.json.decode
_encode = msgspec.json.encode


def _error(status: int, raw: bytes) -> KubeError:
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    reason = str(body.get("reason") or "")
    message = str(body.get("message") or raw[:200].decode(errors="replace") or f"HTTP {status}")
    if status == 404:
        return KubeNotFound(message, status=status, reason=reason or "NotFound")
    if status == 409:
        cls = KubeAlreadyExists if reason == "AlreadyExists" else KubeConflict
        return cls(message, status=status, reason=reason or "Conflict")
    if status == 415:
        return KubeUnsupportedMediaType(message, status=status, reason=reason or "UnsupportedMediaType")
    return KubeError(message, status=status, reason=reason or f"HTTP {status}")


class InClusterClient:
    """`client.KubeClient` over HTTPS; use as `async with InClusterClient.from_env(env) as c:`."""

    def __init__(self, server: str, /, *, token: Callable[[], str], ssl_context: ssl.SSLContext | bool,
                 timeout: float = 60.0, attempts: int = 5,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._server = server.rstrip("/")
        self._token, self._ssl, self._timeout = token, ssl_context, timeout
        self._attempts, self._sleep = max(1, attempts), sleep
        self._session: aiohttp.ClientSession | None = None
        self._resources: dict[str, list[KindInfo]] = {}   # group/version -> its resources
        self._preferred: KindTable | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], /, *, account_dir: Path = SERVICE_ACCOUNT_DIR) -> InClusterClient:
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
        if not host:
            raise NotInCluster("not running in a cluster: KUBERNETES_SERVICE_HOST is not set")
        token_file, ca = account_dir / "token", account_dir / "ca.crt"
        if not token_file.exists():
            raise NotInCluster(f"no service-account token at {token_file} (automountServiceAccountToken: false "
                               "and no executor.serviceAccountName?)")
        host = f"[{host}]" if ":" in host else host
        context = ssl.create_default_context(cafile=str(ca)) if ca.exists() else ssl.create_default_context()
        return cls(f"https://{host}:{port}", token=lambda: token_file.read_text().strip(), ssl_context=context)

    async def __aenter__(self) -> InClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, path: str, /, *, params: Mapping[str, str] | None = None,
                       body: Any = None, content_type: str = "application/json") -> Any:
        """One API call. Retried as client-go retries (Argo retries kubectl likewise): a 429 always,
        after the server's Retry-After; a 5xx or a lost connection only for reads, since a write
        whose answer was lost may have happened."""
        for attempt in range(self._attempts):
            last = attempt == self._attempts - 1
            try:
                return await self._once(method, path, params=params, body=body, content_type=content_type)
            except KubeError as exc:
                retry = exc.status == 429 or (method == "GET" and exc.transient)
                if last or not retry:
                    raise
                await self._sleep(exc.retry_after if exc.retry_after is not None else min(0.2 * 2 ** attempt, 5.0))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(self, method: str, path: str, /, *, params: Mapping[str, str] | None,
                    body: Any, content_type: str) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = _encode(body)
        try:
            async with self._session.request(method, self._server + path, params=params, data=data, headers=headers,
                                             ssl=self._ssl) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    err = _error(resp.status, raw)
                    try:
                        err.retry_after = float(resp.headers.get("Retry-After", ""))
                    except ValueError:
                        pass  # absent or an HTTP date: back off by attempt instead
                    raise err
                return _decode(raw) if raw else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise KubeError(f"{method} {path}: {exc or type(exc).__name__}") from None

    # -- discovery ------------------------------------------------------------------------------

    async def _group_version(self, group_version: str) -> list[KindInfo]:
        cached = self._resources.get(group_version)
        if cached is not None:
            return cached
        group, _, version = group_version.rpartition("/")
        try:
            doc = await self._request("GET", f"/apis/{group_version}" if group else f"/api/{version}")
        except KubeNotFound:
            doc = {"resources": []}
        kinds = [KindInfo(group, version, r["kind"], r["name"], bool(r.get("namespaced")),
                          tuple(r.get("shortNames") or ()))
                 for r in doc.get("resources") or () if "/" not in r.get("name", "")]
        self._resources[group_version] = kinds
        return kinds

    async def kind_for_manifest(self, api_version: str, kind: str, /) -> KindInfo:
        return KindTable(await self._group_version(api_version)).for_manifest(api_version, kind)

    async def kind_for_argument(self, text: str, /) -> KindInfo:
        if self._preferred is None:
            kinds = list(await self._group_version("v1"))
            groups = await self._request("GET", "/apis")
            for g in groups.get("groups") or ():
                preferred = (g.get("preferredVersion") or {}).get("groupVersion")
                if preferred:
                    kinds += await self._group_version(preferred)
            self._preferred = KindTable(kinds)
        return self._preferred.for_argument(text)

    # -- objects --------------------------------------------------------------------------------

    @staticmethod
    def _path(kind: KindInfo, namespace: str | None, name: str | None = None) -> str:
        prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        ns = f"/namespaces/{quote(namespace, safe='')}" if kind.namespaced and namespace else ""
        tail = f"/{quote(name, safe='')}" if name else ""
        return f"{prefix}{ns}/{kind.plural}{tail}"

    async def get(self, kind: KindInfo, name: str, /, *, namespace: str | None) -> dict[str, Any]:
        return await self._request("GET", self._path(kind, namespace, name))

    async def list(self, kind: KindInfo, /, *, namespace: str | None,
                   label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        doc = await self._request("GET", self._path(kind, namespace), params=params)
        return list(doc.get("items") or ())

    async def create(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]:
        return await self._request("POST", self._path(kind, namespace), body=body)

    async def update(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]:
        return await self._request("PUT", self._path(kind, namespace, body["metadata"]["name"]), body=body)

    async def patch(self, kind: KindInfo, name: str, patch: Any, /, *, namespace: str | None,
                    patch_kind: PatchKind) -> dict[str, Any]:
        return await self._request("PATCH", self._path(kind, namespace, name), body=patch,
                                   content_type=_CONTENT[patch_kind])

    async def delete(self, kind: KindInfo, name: str, /, *, namespace: str | None,
                     propagation: str | None = None, grace_period: int | None = None) -> None:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        await self._request("DELETE", self._path(kind, namespace, name), body=options)

