"""The `Api` boundary over a real kube-apiserver: aiohttp for transport, msgspec for JSON.

One `HttpApi` per API server, sharing one aiohttp session (keep-alive connections) and one
client-side token bucket (`qps`/`burst`, 20/30 by default as Argo's controller). Objects
travel as plain dicts, as `base` prescribes; bodies are encoded and decoded with msgspec,
which is several times faster than `json` and far faster than the `kubernetes` package's
generated models (reference/kubernetes-test-cluster.md §8.2). The `kubernetes` package is
used only to load a kubeconfig or the in-cluster configuration (`_http_config`).

Retries (`_send`) follow client-go's `rest.Request`: a 429 is always retried, after the
server's `Retry-After` when it sent one; a 5xx is retried when the server sent
`Retry-After` (it says it did not act) or when the request is a read; connection failures
are retried for reads only, since a create whose answer was lost may have happened. At most
`max_retries` retries, then the typed error of the last answer. A 401 reloads credentials
once (exec plugins, rotated tokens) and retries.

Differences from the embedded store that the contract allows: `list` is paginated
(`limit`/`continue`, one snapshot) and re-sorted by namespace then name, and list items get
the `apiVersion`/`kind` the apiserver leaves out of built-in lists. A `delete` that the
server answers with a `Status` (built-in types without `returnDeletedObject`, e.g.
ConfigMaps) returns a stub with what the Status names: `apiVersion`, `kind`, `metadata.name`,
`metadata.namespace` and `metadata.uid`; the last full state is not available then.
"""
from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import msgspec

from ..clock import Clock, RealClock
from ._http_config import HttpConfig, load_config, ssl_context
from ._http_watch import HttpWatchStream
from ._ratelimit import TokenBucket
from .base import Api, ListResult, PatchType, Preconditions, Propagation, Resource, WatchStream
from .errors import ApiError, BadRequest, from_status

__all__ = ["HttpApi", "HttpConfig", "load_config"]

Object = dict[str, Any]
_JSON = "application/json"
_READS = frozenset({"GET", "HEAD"})
_PAGE = 500
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date: the apiserver never sends one, fall back to backoff
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _error(method: str, path: str, status: int, raw: bytes, retry_after: float | None) -> ApiError:
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        body.setdefault("code", status)
        return from_status(body, retry_after=retry_after)
    error = from_status(status, retry_after=retry_after)
    text = raw[:300].decode("utf-8", "replace").strip()
    error.message = f"{method} {path}: HTTP {status}" + (f": {text}" if text else "")
    error.args = (error.message,)
    return error


class HttpApi(Api):
    """`Api` over HTTP(S). Create inside or outside a loop; the session opens on first use."""

    def __init__(self, config: HttpConfig, /, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock = clock if clock is not None else RealClock()
        self._limiter = TokenBucket(config.qps, config.burst, clock=self._clock)
        self._ssl = ssl_context(config)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str] | None = None, /, *, context: str | None = None,
                        in_cluster: bool | None = None, clock: Clock | None = None) -> HttpApi:
        """Connect as `kubectl` would (kubeconfig, or the in-cluster service account)."""
        return cls(load_config(kubeconfig=path, context=context, in_cluster=in_cluster), clock=clock)

    @property
    def config(self) -> HttpConfig:
        return self._config

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed and self._loop is not loop:
            # aiohttp sessions cannot move between loops; a silent new session would leak
            # the old one's connections.
            raise RuntimeError("HttpApi is bound to the event loop it first ran on; "
                               "create one HttpApi per event loop (or close() it first)")
        if self._session is None or self._session.closed:
            self._loop = loop
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=0)
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=self._config.accept_gzip)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- transport ---------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        return min(0.1 * 2 ** (attempt - 1), 5.0)

    async def _send(self, method: str, path: str, /, *, params: Mapping[str, str] | None = None,
                    body: bytes | None = None, content_type: str = _JSON,
                    watch: bool = False) -> aiohttp.ClientResponse:
        """Send with throttling, retries and auth; return the unread 2xx response."""
        config = self._config
        url = config.server + path
        timeout = (aiohttp.ClientTimeout(total=None, sock_connect=config.timeout, sock_read=None) if watch
                   else aiohttp.ClientTimeout(total=config.timeout))
        attempt = 0
        refreshed = False
        token = config.token(False)
        while True:
            await self._limiter.acquire()
            headers = {"Accept": _JSON,
                       "Accept-Encoding": "gzip" if config.accept_gzip else "identity",
                       "User-Agent": "tiphys"}
            if body is not None:
                headers["Content-Type"] = content_type
            if token:
                headers["Authorization"] = f"Bearer {token}"
            try:
                resp = await self._http().request(method, url, params=params, data=body, headers=headers,
                                                  timeout=timeout)
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                if method in _READS and attempt < config.max_retries:
                    attempt += 1
                    await self._clock.sleep(self._backoff(attempt))
                    continue
                raise ApiError(f"{method} {path}: {type(exc).__name__}: {exc}", status=503,
                               reason="ServiceUnavailable") from exc
            if resp.status < 300:
                return resp
            try:
                raw = await resp.read()
            finally:
                resp.release()
            retry_after = _retry_after(resp.headers)
            if resp.status == 401 and not refreshed:
                refreshed = True
                fresh = config.token(True)
                if fresh != token:
                    token = fresh
                    continue
            error = _error(method, path, resp.status, raw, retry_after)
            retriable = resp.status == 429 or (
                resp.status >= 500 and (retry_after is not None or method in _READS))
            # "Too large resource version" (504, Retry-After 1): the server already waited
            # for the RV to arrive; the caller relists from "" rather than repeating it.
            if any(c.reason == "ResourceVersionTooLarge" for c in error.causes):
                retriable = False
            if retriable and attempt < config.max_retries:
                attempt += 1
                await self._clock.sleep(retry_after if retry_after is not None else self._backoff(attempt))
                continue
            raise error

    async def _json(self, method: str, path: str, /, *, params: Mapping[str, str] | None = None,
                    body: Any = None, content_type: str = _JSON) -> Any:
        data = None if body is None else _encode(body)
        resp = await self._send(method, path, params=params, body=data, content_type=content_type)
        try:
            raw = await resp.read()
        finally:
            resp.release()
        try:
            return _decode(raw)
        except msgspec.DecodeError as exc:
            raise ApiError(f"{method} {path}: undecodable response ({exc})", status=500,
                           reason="InternalError") from None

    # -- paths -------------------------------------------------------------------------------

    @staticmethod
    def _collection(resource: Resource, namespace: str | None, /) -> str:
        base = f"/apis/{resource.group}/{resource.version}" if resource.group else f"/api/{resource.version}"
        if resource.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{resource.plural}"

    @staticmethod
    def _scope(resource: Resource, namespace: str | None, /, *, single: bool) -> str | None:
        # The same checks, and messages, as the embedded store: fail before the network.
        if resource.namespaced:
            if single and not namespace:
                raise BadRequest(f"{resource.plural} is namespaced: a namespace is required")
            return namespace or None
        if namespace:
            raise BadRequest(f"{resource.plural} is cluster-scoped: got namespace {namespace!r}")
        return None

    def _item(self, resource: Resource, name: str, namespace: str | None, subresource: str | None = None,
              /) -> str:
        if not name:
            raise BadRequest(f"{resource.plural}: a name is required")
        path = f"{self._collection(resource, namespace)}/{quote(name, safe='')}"
        return f"{path}/{subresource}" if subresource else path

    @staticmethod
    def _selectors(label_selector: str | None, field_selector: str | None, /) -> dict[str, str]:
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        return params

    # -- the Api -----------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, /, *, namespace: str | None = None) -> Object:
        ns = self._scope(resource, namespace, single=True)
        return await self._json("GET", self._item(resource, name, ns))

    async def list(self, resource: Resource, /, *, namespace: str | None = None,
                   label_selector: str | None = None, field_selector: str | None = None,
                   resource_version: str | None = None) -> ListResult:
        ns = self._scope(resource, namespace, single=False)
        path = self._collection(resource, ns)
        params = self._selectors(label_selector, field_selector)
        params["limit"] = str(_PAGE)
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        items: list[Object] = []
        rv = ""
        while True:
            page = await self._json("GET", path, params=params)
            meta = page.get("metadata") or {}
            # Every page of one continue-chain is the same snapshot: the first RV names it.
            rv = rv or str(meta.get("resourceVersion") or "")
            items.extend(page.get("items") or ())
            token = meta.get("continue")
            if not token:
                break
            params["continue"] = token
            # The token pins the snapshot; the server refuses a resourceVersion beside it.
            params.pop("resourceVersion", None)
        for item in items:
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        # etcd orders by key "ns/name", where "a-b/x" < "a/x"; the contract orders by (ns, name).
        items.sort(key=lambda o: ((o["metadata"].get("namespace") or ""), o["metadata"]["name"]))
        return ListResult(items, rv)

    def watch(self, resource: Resource, /, *, namespace: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              resource_version: str | None = None, allow_bookmarks: bool = False,
              timeout: float | None = None) -> WatchStream:
        params = self._selectors(label_selector, field_selector)
        params["watch"] = "1"
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if timeout is not None:
            # The apiserver takes whole seconds; never round a short timeout down to "none".
            params["timeoutSeconds"] = str(max(1, math.ceil(timeout)))

        async def open_() -> aiohttp.ClientResponse:
            ns = self._scope(resource, namespace, single=False)
            return await self._send("GET", self._collection(resource, ns), params=params, watch=True)

        return HttpWatchStream(open_)

    def _with_type_meta(self, resource: Resource, body: Object, /) -> Object:
        if not isinstance(body, dict):
            raise BadRequest(f"{resource.plural}: the body must be a JSON object, got {type(body).__name__}")
        # Custom resources are decoded as unstructured and need kind/apiVersion in the body.
        return {"apiVersion": resource.api_version, "kind": resource.kind, **body}

    async def create(self, resource: Resource, body: Object, /, *, namespace: str | None = None) -> Object:
        body = self._with_type_meta(resource, body)
        meta = body.get("metadata")
        body_ns = meta.get("namespace") if isinstance(meta, dict) else None
        if namespace and body_ns and body_ns != namespace:
            raise BadRequest(f"the namespace of the provided object ({body_ns}) does not match the"
                             f" namespace sent on the request ({namespace})")
        ns = self._scope(resource, (namespace or body_ns) if resource.namespaced else namespace, single=True)
        return await self._json("POST", self._collection(resource, ns), body=body)

    async def update(self, resource: Resource, body: Object, /, *, namespace: str | None = None,
                     subresource: str | None = None) -> Object:
        body = self._with_type_meta(resource, body)
        meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        name = meta.get("name")
        if not name:
            raise BadRequest(f"update {resource.plural}: metadata.name is required")
        ns = self._scope(resource, namespace or (meta.get("namespace") if resource.namespaced else None),
                         single=True)
        return await self._json("PUT", self._item(resource, name, ns, subresource), body=body)

    async def patch(self, resource: Resource, name: str, patch: Any, /, *, namespace: str | None = None,
                    patch_type: PatchType = PatchType.MERGE, subresource: str | None = None) -> Object:
        ns = self._scope(resource, namespace, single=True)
        return await self._json("PATCH", self._item(resource, name, ns, subresource), body=patch,
                                content_type=PatchType(patch_type).value)

    async def delete(self, resource: Resource, name: str, /, *, namespace: str | None = None,
                     preconditions: Preconditions | None = None,
                     propagation: Propagation = Propagation.BACKGROUND,
                     grace_period_seconds: int | None = None) -> Object:
        ns = self._scope(resource, namespace, single=True)
        options: Object = {"apiVersion": "v1", "kind": "DeleteOptions",
                           "propagationPolicy": Propagation(propagation).value}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        if preconditions is not None:
            pre = {k: v for k, v in (("uid", preconditions.uid),
                                     ("resourceVersion", preconditions.resource_version)) if v is not None}
            if pre:
                options["preconditions"] = pre
        result = await self._json("DELETE", self._item(resource, name, ns), body=options)
        if result.get("kind") == "Status" and resource.kind != "Status":
            details = result.get("details") or {}
            meta = {"name": details.get("name") or name, "uid": details.get("uid")}
            if ns:
                meta["namespace"] = ns
            return {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": meta}
        return result

    async def delete_collection(self, resource: Resource, /, *, namespace: str | None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation: Propagation = Propagation.BACKGROUND,
                                grace_period_seconds: int | None = None) -> list[Object] | None:
        ns = self._scope(resource, namespace, single=True)
        options: Object = {"apiVersion": "v1", "kind": "DeleteOptions",
                           "propagationPolicy": Propagation(propagation).value}
        if grace_period_seconds is not None:
            options["gracePeriodSeconds"] = grace_period_seconds
        result = await self._json("DELETE", self._collection(resource, ns),
                                  params=self._selectors(label_selector, field_selector), body=options)
        if not isinstance(result, dict) or result.get("kind") == "Status":
            return None  # the matches are not named
        items = result.get("items") or []
        for item in items:  # as in `list`: built-in lists leave the type out of their items
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        return items

    def __repr__(self) -> str:
        return f"HttpApi({self._config.server!r})"

