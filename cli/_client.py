"""Reaching the cluster from a command: kubeconfig/context/namespace → `HttpApi`, as kubectl does.

Every cluster command takes `--kubeconfig`, `--context` and `-n/--namespace` (kubectl's
flags, which Argo's CLI reuses). The namespace defaults to the context's namespace, then
`default`. A command body is an `async def body(api, namespace)` run by `run_command`,
which owns the event loop and the connection and turns API failures into exit status 1 with
one `error: ...` line naming what failed; click's own usage errors keep exit status 2.

Pod logs are plain text, not JSON, and `HttpApi` has no public call for them, so
`read_log` goes through its transport (`_send`: auth, TLS, retries) directly.
"""
from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import click

from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError, NotFound
from tiphys.controller.api.http import HttpApi

__all__ = ["Target", "cluster_options", "run_command", "resolve_name", "read_log", "stream_log", "CliError",
           "COMPLETED_LABEL", "get_workflow"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"


class CliError(click.ClickException):
    """A failure the user caused or must know about: exit status 1, one `error:` line."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Target:
    """Where a command acts: the kubeconfig, context and namespace it was given."""

    def __init__(self, *, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
        self.kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or None
        self.context = context
        self._namespace = namespace

    @functools.cached_property
    def namespace(self) -> str:
        if self._namespace:
            return self._namespace
        return _context_namespace(self.kubeconfig, self.context) or "default"

    def api(self) -> HttpApi:
        try:
            return HttpApi.from_kubeconfig(self.kubeconfig, context=self.context, in_cluster=False)
        except Exception as exc:  # the kubernetes loader raises plain ConfigException/ValueError/OSError
            where = self.kubeconfig or "~/.kube/config"
            raise CliError(f"cannot load kubeconfig {where}"
                           + (f" (context {self.context!r})" if self.context else "") + f": {exc}") from None


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    try:
        from kubernetes.config import kube_config

        contexts, current = kube_config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:  # no kubeconfig: Target.api() reports it with the reason
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    return ((chosen or {}).get("context") or {}).get("namespace")


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add kubectl's `--kubeconfig`, `--context`, `-n/--namespace`; pass them as `target=`."""

    @click.option("--kubeconfig", default=None, help="Path to the kubeconfig file (default $KUBECONFIG, ~/.kube/config).")
    @click.option("--context", "kube_context", default=None, help="The kubeconfig context to use.")
    @click.option("-n", "--namespace", default=None, help="The namespace (default: the context's, else 'default').")
    @functools.wraps(func)
    def wrapper(*args: Any, kubeconfig: str | None, kube_context: str | None, namespace: str | None,
                **kwargs: Any) -> Any:
        root = click.get_current_context().find_root().params  # flags given before the command
        target = Target(kubeconfig=kubeconfig or root.get("kubeconfig"), context=kube_context or root.get("kube_context"),
                        namespace=namespace or root.get("namespace"))
        return func(*args, target=target, **kwargs)

    return wrapper


def run_command(target: Target, body: Callable[[HttpApi, str], Awaitable[int | None]], /) -> None:
    """Run `body(api, namespace)`; exit with its status (None = 0), API errors exit 1."""
    async def main() -> int | None:
        api = target.api()
        try:
            return await body(api, target.namespace)
        finally:
            await api.close()

    try:
        status = asyncio.run(main())
    except ApiError as exc:
        raise CliError(str(exc) or type(exc).__name__) from None
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(status or 0)


async def resolve_name(api: base.Api, namespace: str, name: str, /) -> str:
    """`@latest` is the namespace's most recently created workflow; other names pass through."""
    if name != "@latest":
        return name
    items = (await api.list(base.WORKFLOWS, namespace=namespace)).items
    if not items:
        raise CliError(f"@latest: no workflows found in namespace {namespace}")
    # RFC 3339 timestamps sort as text; names break ties within one second as Argo's
    # latest-by-creation does not specify
    newest = max(items, key=lambda o: (o["metadata"].get("creationTimestamp") or "", o["metadata"]["name"]))
    return newest["metadata"]["name"]


def _log_path(namespace: str, pod: str) -> str:
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(pod, safe='')}/log"


def _log_params(container: str, *, tail: int | None, follow: bool, timestamps: bool,
                since_seconds: int | None) -> dict[str, str]:
    params = {"container": container}
    if tail is not None and tail >= 0:
        params["tailLines"] = str(tail)
    if follow:
        params["follow"] = "true"
    if timestamps:
        params["timestamps"] = "true"
    if since_seconds is not None:
        params["sinceSeconds"] = str(since_seconds)
    return params


async def read_log(api: HttpApi, namespace: str, pod: str, /, *, container: str = "main", tail: int | None = None,
                   timestamps: bool = False, since_seconds: int | None = None) -> str:
    """One container's log as text (ApiError when the server cannot fetch it)."""
    params = _log_params(container, tail=tail, follow=False, timestamps=timestamps, since_seconds=since_seconds)
    resp = await api._send("GET", _log_path(namespace, pod), params=params)
    try:
        return (await resp.read()).decode("utf-8", "replace")
    finally:
        resp.release()


async def stream_log(api: HttpApi, namespace: str, pod: str, /, *, container: str = "main",
                     tail: int | None = None, timestamps: bool = False,
                     since_seconds: int | None = None) -> AsyncIterator[str]:
    """Follow one container's log line by line until the container ends (`-f`)."""
    params = _log_params(container, tail=tail, follow=True, timestamps=timestamps, since_seconds=since_seconds)
    resp = await api._send("GET", _log_path(namespace, pod), params=params, watch=True)
    try:
        async for raw in resp.content:
            yield raw.decode("utf-8", "replace").rstrip("\n")
    finally:
        resp.release()


async def get_workflow(api: base.Api, namespace: str, name: str, /) -> dict:
    """The named workflow (`@latest` allowed); a clear error when it does not exist."""
    name = await resolve_name(api, namespace, name)
    try:
        return await api.get(base.WORKFLOWS, name, namespace=namespace)
    except NotFound:
        raise CliError(f"workflow {name!r} not found in namespace {namespace}") from None

