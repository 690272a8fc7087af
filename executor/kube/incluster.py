"""The executor's one API client in a real pod: service-account token, CA, discovery.

`resource` runs its actions through it, `wait` and `resource` write their WorkflowTaskResult
through it (`taskresults.api_sink`), and the HTTP agent follows its task set with it.

Like kubectl's in-cluster config: the server is `https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`,
the bearer token and CA come from `/var/run/secrets/kubernetes.io/serviceaccount/` (the token file
is re-read for every request: the kubelet rotates it), and the pod's namespace from the file there
(the controller also gives ARGO_NAMESPACE). Kinds are found by discovery, as kubectl's REST mapper
finds them: a manifest's `apiVersion` asks only its group/version's resource list; a TYPE argument
asks the preferred version of every group. So custom resources work here, unlike on the node agent.

`watch` streams a collection's changes (`watch.WatchStream`: bookmarks, the server's
`timeoutSeconds`, reconnects from the last resourceVersion, `KubeGone` for the caller to relist
from a `snapshot`); `patch` and `update` reach a subresource (`subresource="status"`).

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
from .errors import KubeError, KubeNotFound, NotInCluster, from_status
from .kinds import KindInfo, KindTable
from .watch import Snapshot, WatchStream

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
    return from_status(status, body, fallback=raw[:200].decode(errors="replace"))


def _refusal(resp: aiohttp.ClientResponse, raw: bytes) -> KubeError:
    err = _error(resp.status, raw)
    try:
        err.retry_after = float(resp.headers.get("Retry-After", ""))
    except ValueError:
        pass  # absent or an HTTP date: back off by attempt instead
    return err


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

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        return self._session

    async def _once(self, method: str, path: str, /, *, params: Mapping[str, str] | None,
                    body: Any, content_type: str) -> Any:
        session = self._session_now()
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = _encode(body)
        try:
            async with session.request(method, self._server + path, params=params, data=data, headers=headers,
                                             ssl=self._ssl) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise _refusal(resp, raw)
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
    def _path(kind: KindInfo, namespace: str | None, name: str | None = None, subresource: str | None = None) -> str:
        prefix = f"/apis/{kind.group}/{kind.version}" if kind.group else f"/api/{kind.version}"
        ns = f"/namespaces/{quote(namespace, safe='')}" if kind.namespaced and namespace else ""
        tail = f"/{quote(name, safe='')}" if name else ""
        if subresource:
            if not name:
                raise ValueError(f"{kind.plural}: subresource {subresource!r} needs an object name")
            tail += f"/{quote(subresource, safe='')}"
        return f"{prefix}{ns}/{kind.plural}{tail}"

    @staticmethod
    def _selectors(label_selector: str | None, field_selector: str | None) -> dict[str, str]:
        params = {"labelSelector": label_selector} if label_selector else {}
        if field_selector:
            params["fieldSelector"] = field_selector
        return params

    async def get(self, kind: KindInfo, name: str, /, *, namespace: str | None) -> dict[str, Any]:
        return await self._request("GET", self._path(kind, namespace, name))

    async def list(self, kind: KindInfo, /, *, namespace: str | None,
                   label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        doc = await self._request("GET", self._path(kind, namespace), params=params)
        return list(doc.get("items") or ())

    async def snapshot(self, kind: KindInfo, /, *, namespace: str | None, label_selector: str | None = None,
                       field_selector: str | None = None) -> Snapshot:
        doc = await self._request("GET", self._path(kind, namespace),
                                  params=self._selectors(label_selector, field_selector) or None)
        return Snapshot(list(doc.get("items") or ()), str((doc.get("metadata") or {}).get("resourceVersion") or ""))

    def watch(self, kind: KindInfo, /, *, namespace: str | None, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None, timeout_seconds: int = 300,
              bookmarks: bool = True) -> WatchStream:
        if timeout_seconds < 1:
            raise ValueError(f"watch timeout_seconds must be at least 1, got {timeout_seconds}")
        path = self._path(kind, namespace)
        params = {"watch": "1", "timeoutSeconds": str(timeout_seconds),
                  **self._selectors(label_selector, field_selector)}
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        # the server ends the request at timeoutSeconds; ours only guards against a hung server
        timeout = aiohttp.ClientTimeout(total=timeout_seconds + 30, sock_connect=self._timeout)

        async def open_(rv: str | None) -> aiohttp.ClientResponse:
            query = {**params, "resourceVersion": rv} if rv else params
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            try:
                resp = await self._session_now().get(self._server + path, params=query, headers=headers,
                                                     ssl=self._ssl, timeout=timeout)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise KubeError(f"GET {path} (watch): {exc or type(exc).__name__}") from None
            if resp.status != 200:
                try:
                    raw = await resp.read()
                except (aiohttp.ClientError, TimeoutError):
                    raw = b""
                finally:
                    resp.release()
                raise _refusal(resp, raw)
            return resp
        return WatchStream(open_, resource_version=resource_version, sleep=self._sleep)

    async def create(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None) -> dict[str, Any]:
        return await self._request("POST", self._path(kind, namespace), body=body)

    async def update(self, kind: KindInfo, body: dict[str, Any], /, *, namespace: str | None,
                     subresource: str | None = None) -> dict[str, Any]:
        return await self._request("PUT", self._path(kind, namespace, body["metadata"]["name"], subresource),
                                   body=body)

    async def patch(self, kind: KindInfo, name: str, patch: Any, /, *, namespace: str | None,
                    patch_kind: PatchKind, subresource: str | None = None) -> dict[str, Any]:
        return await self._request("PATCH", self._path(kind, namespace, name, subresource), body=patch,
                                   content_type=_CONTENT[patch_kind])

    async def delete(self, kind: KindInfo, name: str, /, *, namespace: str | None,
                     propagation: str | None = None, grace_period: int | None = None) -> None:
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation:
            options["propagationPolicy"] = propagation
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        await self._request("DELETE", self._path(kind, namespace, name), body=options)

