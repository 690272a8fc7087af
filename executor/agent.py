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

The API is reached through a `TaskSetApi`, so the same loop runs in a pod (`KubeTaskSetApi` over
the resource command's in-cluster client, polling) and in-process on the node agent (its own
implementation over `base.Api`, with a watch). `agent init` has nothing to do without executor
plugins (Argo's init prepares plugin tokens); it exits 0.
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
from .kube.errors import KubeError, KubeNotFound
from .kube.kinds import KindInfo

__all__ = ["AgentSettings", "AgentError", "TaskSetApi", "KubeTaskSetApi", "run_agent", "COMPLETED_LABEL"]

COMPLETED_LABEL = "workflows.argoproj.io/completed"
Log = Callable[[str], None]


class AgentError(ExecutorError):
    """The agent's settings are unusable (missing workflow name, a bad patch rate)."""


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True):
    workflow_name: str
    namespace: str = "default"
    patch_rate: float = 10.0  # Argo's default (DEFAULT_REQUEUE_TIME); the controller passes its own
    workers: int = 16
    poll_interval: float = 1.0  # how often a client without a watch re-reads the task set

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
        """Return when the task set may have changed since `resource_version` (or after a while):
        its new state when the change carried it (a watch event), else None (read it again)."""


_SECRETS = KindInfo("", "v1", "Secret", "secrets", True)
_TASK_SETS = KindInfo("argoproj.io", "v1alpha1", "WorkflowTaskSet", "workflowtasksets", True, ("wfts",))


class KubeTaskSetApi:
    """`TaskSetApi` over the resource command's `KubeClient` (the in-cluster client in a pod); polls."""

    def __init__(self, client: KubeClient, settings: AgentSettings, /, *,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._client, self._settings, self._sleep = client, settings, sleep
        # KubeClient.patch has no subresource: a kind whose "plural" is the status path of our one
        # object gives `/apis/argoproj.io/v1alpha1/namespaces/<ns>/workflowtasksets/<wf>/status`
        # (Argo's agent Role may patch only workflowtasksets/status)
        self._status = KindInfo("argoproj.io", f"v1alpha1/namespaces/{settings.namespace}/workflowtasksets/"
                                f"{settings.workflow_name}", "WorkflowTaskSet", "status", False)

    async def get(self) -> dict[str, Any] | None:
        try:
            return await self._client.get(_TASK_SETS, self._settings.workflow_name, namespace=self._settings.namespace)
        except KubeNotFound:
            return None

    async def patch_status(self, nodes: dict[str, Any], /) -> None:
        await self._client.patch(self._status, "", {"status": {"nodes": nodes}}, namespace=None,
                                 patch_kind=PatchKind.MERGE)

    async def secret(self, name: str, key: str, /) -> str:
        try:
            obj = await self._client.get(_SECRETS, name, namespace=self._settings.namespace)
        except KubeError as exc:
            raise HttpTaskError(f"secret {name!r}: {exc}") from None
        return secret_value(obj, name, key)

    async def changed(self, resource_version: str, /) -> dict[str, Any] | None:
        await self._sleep(self._settings.poll_interval)
        return None


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
