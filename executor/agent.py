"""`argoexec agent main`: the agent pod that performs a workflow's HTTP templates (Argo's AgentExecutor).

The controller writes each unfinished HTTP node's template into the workflow's WorkflowTaskSet
(`spec.tasks[nodeID]`, the task set named as the workflow). The agent follows that object; every
task it has not seen before is run once (Argo's `consideredTasks`: a task is never sent twice,
even if the object is seen again or the controller puts it again after a restart), at most
`workers` at a time (ARGO_AGENT_TASK_WORKERS, 16). Each outcome (`httptask.perform_http`) goes to
`status.nodes[nodeID]` by a merge patch of the status subresource. Patches are batched as in
Argo's patchWorker, at most one per `patch_rate` (ARGO_AGENT_PATCH_RATE); a result that finds the
last patch older than that goes at once. The agent returns when the task set is labelled
`workflows.argoproj.io/completed=true`, or is deleted after it was seen (the workflow is gone).

The API is reached through a `TaskSetApi`, so the same loop runs in a pod and in-process on the
node agent (its own implementation over `base.Api`, with its watch). Either follows the task set
by watch, never by re-reading it: the loop reads it once (`get`), then takes each state a watch
event brings (`changed`), and reads it again only when the watch says it cannot go on. In a pod,
`KubeTaskSetApi` over the in-cluster client lists the task set once (field selector
`metadata.name=<wf>`, the collection's resourceVersion) and keeps one watch open from there; the
server ends each watch request after `watch_seconds` (300) and the stream opens the next one from
its last resourceVersion, as it does after a broken connection (`kube.watch.WatchStream`); a 410 Gone or a refused watch makes it list again,
after a backoff. An idle agent thus holds one request open instead of asking every second.
Results go through the status subresource (`patch(..., subresource="status")`), the only write
Argo's agent Role grants. `agent init` has nothing to do without executor plugins (Argo's init
prepares plugin tokens); it exits 0.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import msgspec

from tiphys.core.plan.timeouts import DurationError, parse_duration

from ._errors import ExecutorError
from .httptask import HttpTaskError, perform_http
from .kube.client import KubeClient, PatchKind
from .kube.errors import KubeError, KubeGone
from .kube.kinds import KindInfo
from .kube.watch import WatchEventType, WatchStream

__all__ = ["AgentSettings", "AgentError", "TaskSetApi", "KubeTaskSetApi", "run_agent", "COMPLETED_LABEL"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"
Log = Callable[[str], None]


def _stdout(line: str) -> None:
    print(line, flush=True)  # a pod's log: nothing held back in a buffer


class AgentError(ExecutorError):
    """The agent's settings are unusable (missing workflow name, a bad patch rate)."""


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True):
    workflow_name: str
    namespace: str = "default"
    patch_rate: float = 10.0  # Argo's default (DEFAULT_REQUEUE_TIME); the controller passes its own
    workers: int = 16

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> AgentSettings:
        name = env.get("ARGO_WORKFLOW_NAME")
        if not name:
            raise AgentError("ARGO_WORKFLOW_NAME is not set")
        try:
            rate = parse_duration(env.get("ARGO_AGENT_PATCH_RATE") or "10s")
        except DurationError as exc:
            raise AgentError(f"ARGO_AGENT_PATCH_RATE: {exc}") from None
        try:
            workers = int(env.get("ARGO_AGENT_TASK_WORKERS") or 16)
        except ValueError:
            raise AgentError(f"ARGO_AGENT_TASK_WORKERS is not a number: {env['ARGO_AGENT_TASK_WORKERS']!r}") from None
        return cls(workflow_name=name, namespace=env.get("ARGO_NAMESPACE") or "default", patch_rate=rate,
                   workers=max(1, workers))


class TaskSetApi(Protocol):
    """What the agent needs of the API, for its one task set."""

    async def get(self) -> dict[str, Any] | None:
        """The task set, None while it does not exist."""

    async def patch_status(self, nodes: dict[str, Any], /) -> None:
        """Merge `status.nodes` (through the status subresource)."""

    async def secret(self, name: str, key: str, /) -> str:
        """A Secret's value (HttpTaskError when it cannot be read)."""

    async def changed(self, resource_version: str, /) -> dict[str, Any] | None:
        """Return when the task set changed after `resource_version` (the version `get` or the
        last event gave): its new state as the watch event carried it, else None -- deleted, or
        the watch cannot go on -- and the agent reads it again with `get`."""


_FIRST_DELAY, _MAX_DELAY = 0.5, 10.0  # seconds, before listing again after a failed list or watch
_SECRETS = KindInfo("", "v1", "Secret", "secrets", True)
_TASK_SETS = KindInfo("argoproj.io", "v1alpha1", "WorkflowTaskSet", "workflowtasksets", True, ("wfts",))


class KubeTaskSetApi:
    """`TaskSetApi` over a `KubeClient` (the in-cluster client in a pod): one list, then one watch.

    `get` lists the task set by name (the collection's resourceVersion comes with it) and retries
    transient failures; `changed` takes the next event from a watch opened from that version and
    kept open across calls. A 410 Gone or a watch the server refuses ends in None after a backoff
    (0.5 s doubling to 10 s, reset by any event), so the agent lists again (module docstring).
    """

    def __init__(self, client: KubeClient, settings: AgentSettings, /, *, watch_seconds: int = 300,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep, log: Log = _stdout) -> None:
        self._client, self._settings, self._sleep, self._log = client, settings, sleep, log
        self._watch_seconds = watch_seconds
        self._selector = f"metadata.name={settings.workflow_name}"
        self._listed = ""  # the resourceVersion of the last list: where the next watch starts
        self._watch: WatchStream | None = None
        self._delay = _FIRST_DELAY

    async def get(self) -> dict[str, Any] | None:
        while True:
            try:
                snap = await self._client.snapshot(_TASK_SETS, namespace=self._settings.namespace,
                                                   field_selector=self._selector)
                break
            except KubeError as exc:
                if not exc.transient:
                    raise
                self._log(f"agent: listing the task set failed, will retry: {exc}")
                await self._backoff(exc.retry_after)
        await self.aclose()  # a watch from before this list would repeat what the list says
        self._listed = snap.resource_version
        return next((o for o in snap.items
                     if (o.get("metadata") or {}).get("name") == self._settings.workflow_name), None)

    async def changed(self, resource_version: str, /) -> dict[str, Any] | None:
        """The task set as the next event brings it; None when it was deleted, or when the watch
        cannot go on (the agent lists again). `resource_version` is what the agent last saw:
        the watch runs on from the list's version and its own events, which are at least as new."""
        if self._watch is None:
            self._watch = self._client.watch(_TASK_SETS, namespace=self._settings.namespace,
                                             field_selector=self._selector, resource_version=self._listed or None,
                                             timeout_seconds=self._watch_seconds)
        retry_after: float | None = None
        try:
            async for event in self._watch:
                self._delay = _FIRST_DELAY  # the watch works
                if event.type is WatchEventType.BOOKMARK:
                    continue  # only a fresher resourceVersion, which the stream keeps
                if event.type is WatchEventType.DELETED:
                    return None
                return event.object
        except KubeGone as exc:
            self._log(f"agent: the task set's watch expired, listing again: {exc}")
        except KubeError as exc:
            self._log(f"agent: watching the task set failed, listing again: {exc}")
            retry_after = exc.retry_after  # a 429's Retry-After, when the server said
        await self.aclose()
        await self._backoff(retry_after)
        return None

    async def patch_status(self, nodes: dict[str, Any], /) -> None:
        await self._client.patch(_TASK_SETS, self._settings.workflow_name, {"status": {"nodes": nodes}},
                                 namespace=self._settings.namespace, patch_kind=PatchKind.MERGE,
                                 subresource="status")

    async def secret(self, name: str, key: str, /) -> str:
        try:
            obj = await self._client.get(_SECRETS, name, namespace=self._settings.namespace)
        except KubeError as exc:
            raise HttpTaskError(f"secret {name!r}: {exc}") from None
        return secret_value(obj, name, key)

    async def aclose(self) -> None:
        """End the open watch, if any (the client's `close` ends it too)."""
        if self._watch is not None:
            await self._watch.aclose()
            self._watch = None

    async def _backoff(self, at_least: float | None = None) -> None:
        await self._sleep(max(self._delay, at_least or 0.0))
        self._delay = min(self._delay * 2, _MAX_DELAY)


def secret_value(obj: Mapping[str, Any], name: str, key: str, /) -> str:
    """`data[key]` (base64) or `stringData[key]` of a Secret object."""
    raw = (obj.get("data") or {}).get(key)
    if raw is None:
        text = (obj.get("stringData") or {}).get(key)
        if text is None:
            raise HttpTaskError(f"secret {name!r} has no key {key!r}")
        return str(text)
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError) as exc:
        raise HttpTaskError(f"secret {name!r} key {key!r} is not base64: {exc}") from None


async def _run_task(api: TaskSetApi, template: Mapping[str, Any]) -> dict[str, Any]:
    http = template.get("http")
    if not isinstance(http, dict):
        kind = "plugin" if template.get("plugin") is not None else "this"
        return {"phase": "Error", "message": f"{kind} template cannot be run by the agent: tiphys runs http only"}
    return await perform_http(http, secret=api.secret)


class _Patcher:
    """Argo's patchWorker: results collected and sent together, at most one patch per `rate`."""

    def __init__(self, api: TaskSetApi, rate: float, clock: Callable[[], float], log: Log) -> None:
        self.api, self.rate, self.clock, self.log = api, rate, clock, log
        self.pending: dict[str, Any] = {}
        self.wake = asyncio.Event()
        self.last = float("-inf")

    def add(self, node_id: str, result: dict[str, Any]) -> None:
        self.pending[node_id] = result
        self.wake.set()

    async def flush(self) -> bool:
        if not self.pending:
            return True
        batch = dict(self.pending)
        try:
            await self.api.patch_status(batch)
        except (KubeError, OSError, asyncio.TimeoutError) as exc:
            self.log(f"agent: patching the task set failed, will retry: {exc}")
            return False
        for node_id in batch:
            if self.pending.get(node_id) is batch[node_id]:
                del self.pending[node_id]
        self.last = self.clock()
        return True

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            wait = self.last + self.rate - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if not await self.flush():
                await asyncio.sleep(max(self.rate, 0.5))
                self.wake.set()


async def run_agent(api: TaskSetApi, settings: AgentSettings, /, *, log: Log = print) -> int:
    """Follow the task set and run its tasks until the workflow is over; the exit code (0)."""
    loop = asyncio.get_running_loop()
    patcher = _Patcher(api, settings.patch_rate, loop.time, log)
    considered: set[str] = set()
    running: set[asyncio.Task[None]] = set()
    workers = asyncio.Semaphore(settings.workers)

    async def one(node_id: str, template: Mapping[str, Any]) -> None:
        async with workers:
            try:
                result = await _run_task(api, template)
            except Exception as exc:  # noqa: BLE001 - Argo: `error processing task`, never the agent's end
                result = {"phase": "Error", "message": f"error processing task: {exc}"}
        log(f"agent: task {node_id}: {result.get('phase')} {result.get('message') or ''}".rstrip())
        patcher.add(node_id, result)

    patch_task = asyncio.ensure_future(patcher.run())
    seen = False
    news: dict[str, Any] | None = None  # the state a watch event brought: no second read
    try:
        while True:
            task_set = news if news is not None else await api.get()
            news = None
            if task_set is None:
                if seen:
                    log("agent: the task set is gone; stopping")
                    break
                news = await api.changed("")
                continue
            seen = True
            meta = task_set.get("metadata") or {}
            if (meta.get("labels") or {}).get(COMPLETED_LABEL) == "true":
                log("agent: the workflow is completed; stopping")
                break
            for node_id, template in ((task_set.get("spec") or {}).get("tasks") or {}).items():
                if node_id in considered or not isinstance(template, dict):
                    continue
                considered.add(node_id)
                task = asyncio.ensure_future(one(node_id, template))
                running.add(task)
                task.add_done_callback(running.discard)
            news = await api.changed(str(meta.get("resourceVersion") or ""))
    finally:
        for task in list(running):
            task.cancel()
        patch_task.cancel()
        await asyncio.gather(patch_task, *running, return_exceptions=True)
        await patcher.flush()  # what finished is not lost (best effort)
    return 0
