"""The wait side: watch main finish, collect its outputs, report them (argo-semantics.md §6.3).

`run_wait` follows Argo's order:

1. create the task result with `report-outputs-completed=false` (so the controller knows outputs
   are coming and does not read the node's outputs too early);
2. wait for every main container's `exitcode` file; past `deadline` write SIGTERM into their
   `signal` files, then SIGKILL after the grace period;
3. tell sidecars to stop the same way (their wrappers deliver the signal);
4. capture `result`, output parameters and artifacts, and the logs when the archive location
   says `archiveLogs` (`outputs.py`);
5. write the outputs together with `report-outputs-completed=true`. Argo does this as two patches
   (outputs, then the label); one full write says the same with one request fewer. If step 4
   raises, the label is still set, with whatever outputs were collected, so the controller never
   waits out its 10-minute task-result timeout for a pod that is gone.

The function returns the wait container's exit code: 0, or 1 when any output failed (the
controller turns that into a node Error).
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from tiphys.core.lang._go import go_duration as parse_go_duration
from ._errors import ExecutorError, WaitTimeout
from .artifacts.repository import ArtifactRepository
from .outputs import capture_result, collect_artifacts, collect_logs, collect_parameters
from .paths import ExecutorPaths
from .taskresult import TaskResultSink, build_outputs, build_task_result, read_progress, report_task_result
from .template import main_container_names

__all__ = ["ExitProbe", "WaitOutcome", "WaitSettings", "read_exit_codes", "run_wait", "signal_containers", "wait_for_containers"]

Sleep = Callable[[float], Awaitable[Any]]
# An outside view of a container (the node agent's, or the pod status): its exit code once it has
# terminated, else None. Needed when the wrapper itself was killed (SIGKILL, OOM) and so never
# wrote its exitcode file -- Argo's wait reads the pod status for the same reason.
ExitProbe = Callable[[str], Awaitable[int | None]]


class WaitSettings(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    workflow_name: str
    workflow_uid: str = ""
    namespace: str = "default"
    instance_id: str = ""
    include_script_output: bool = False
    deadline: float | None = None       # epoch seconds (ARGO_DEADLINE)
    grace_period: float = 30.0          # ARGO_TERMINATION_GRACE_PERIOD_SECONDS
    poll_interval: float = 0.1
    sidecars: tuple[str, ...] = ()
    progress_file: str | None = None
    progress_interval: float = 60.0     # ARGO_PROGRESS_PATCH_TICK_DURATION, seconds
    report_attempts: int = 5            # writes of the task result before giving up

    @classmethod
    def from_env(cls, env: Mapping[str, str], /) -> WaitSettings:
        import datetime as dt
        deadline = None
        raw = env.get("ARGO_DEADLINE", "")
        if raw and not raw.startswith("0001-01-01"):  # Go's zero time means "no deadline"
            deadline = dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
        sidecars = tuple(s for s in env.get("ARGO_SIDECAR_NAMES", "").split(",") if s)
        missing = [k for k in ("ARGO_NODE_ID", "ARGO_WORKFLOW_NAME") if not env.get(k)]
        if missing:
            raise ExecutorError(f"the wait container needs {', '.join(missing)} in its environment")
        return cls(node_id=env["ARGO_NODE_ID"], workflow_name=env["ARGO_WORKFLOW_NAME"],
                   workflow_uid=env.get("ARGO_WORKFLOW_UID", ""), namespace=env.get("ARGO_NAMESPACE", "default"),
                   instance_id=env.get("ARGO_INSTANCE_ID", ""),
                   include_script_output=env.get("ARGO_INCLUDE_SCRIPT_OUTPUT") == "true", deadline=deadline,
                   grace_period=float(env.get("ARGO_TERMINATION_GRACE_PERIOD_SECONDS", "30")),
                   sidecars=sidecars, progress_file=env.get("ARGO_PROGRESS_FILE"),
                   progress_interval=_go_seconds(env.get("ARGO_PROGRESS_PATCH_TICK_DURATION", "1m")))


def _go_seconds(text: str) -> float:
    """A Go duration such as `1m` or `30s` (the executor's tick settings)."""
    try:
        return parse_go_duration(text)
    except ValueError as exc:
        raise ExecutorError(f"bad duration {text!r}: {exc}") from exc


class WaitOutcome(msgspec.Struct, frozen=True, kw_only=True):
    exit_code: int                       # of the wait container
    exit_codes: dict[str, int]           # of the main containers
    task_result: dict[str, Any]
    errors: tuple[str, ...] = ()


def read_exit_codes(paths: ExecutorPaths, names: Sequence[str], /) -> dict[str, int]:
    """Exit codes of the containers that have finished (an empty file is still being written)."""
    codes = {}
    for name in names:
        try:
            text = paths.exitcode(name).read_text().strip()
        except FileNotFoundError:
            continue
        if text:
            try:
                codes[name] = int(text)
            except ValueError as exc:
                raise ExecutorError(f"{paths.exitcode(name)} holds {text!r}, not an exit code") from exc
    return codes


def signal_containers(paths: ExecutorPaths, names: Sequence[str], signal: int, /) -> None:
    """Ask each container's wrapper to deliver `signal` to its command (the `signal` file)."""
    for name in names:
        d = paths.ctr(name)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / ".signal.tmp"
        tmp.write_text(str(signal))
        tmp.replace(d / "signal")  # atomic: the wrapper never reads a half-written number


async def wait_for_containers(paths: ExecutorPaths, names: Sequence[str], /, *, poll_interval: float = 0.1,
                              deadline: float | None = None, grace_period: float = 30.0,
                              timeout: float | None = None, now: Callable[[], float] = time.time,
                              sleep: Sleep = asyncio.sleep, probe: ExitProbe | None = None) -> dict[str, int]:
    """Wait until every container in `names` has an exit code; enforce `deadline` on the way."""
    start = now()
    termed_at: float | None = None
    killed = False
    while True:
        codes = read_exit_codes(paths, names)
        if probe is not None:
            for name in names:
                if name not in codes and (code := await probe(name)) is not None:
                    # re-read: the file may have landed between the two looks
                    codes[name] = read_exit_codes(paths, [name]).get(name, code)
        if len(codes) == len(names):
            return codes
        t = now()
        if timeout is not None and t - start > timeout:
            raise WaitTimeout(f"containers {sorted(set(names) - codes.keys())} did not finish within {timeout}s")
        running = [n for n in names if n not in codes]
        if deadline is not None and t >= deadline and termed_at is None:
            signal_containers(paths, running, 15)
            termed_at = t
        elif termed_at is not None and not killed and t - termed_at >= grace_period:
            signal_containers(paths, running, 9)
            killed = True
        await sleep(poll_interval)


async def run_wait(template: Mapping[str, Any], paths: ExecutorPaths, settings: WaitSettings, /, *,
                   sink: TaskResultSink, repository: ArtifactRepository, work_dir: Path | None = None,
                   now: Callable[[], float] = time.time, sleep: Sleep = asyncio.sleep,
                   probe: ExitProbe | None = None) -> WaitOutcome:
    def result_obj(completed: bool, outputs: Mapping[str, Any] | None) -> dict[str, Any]:
        progress = read_progress(Path(settings.progress_file)) if settings.progress_file else None
        return build_task_result(settings.node_id, workflow_name=settings.workflow_name, workflow_uid=settings.workflow_uid,
                                 namespace=settings.namespace, completed=completed, outputs=outputs,
                                 progress=progress, instance_id=settings.instance_id or None)

    await report_task_result(sink, result_obj(False, None), attempts=settings.report_attempts, sleep=sleep)
    outputs: dict[str, Any] = {}
    errors: list[str] = []
    final: dict[str, Any] | None = None
    codes: dict[str, int] = {}

    async def report_progress() -> None:
        # while main runs, publish the user's N/M progress when it changes (Argo's progress ticker)
        last = None
        while True:
            await sleep(settings.progress_interval)
            current = read_progress(Path(settings.progress_file)) if settings.progress_file else None
            if current and current != last:
                await report_task_result(sink, result_obj(False, None), attempts=settings.report_attempts, sleep=sleep)
                last = current

    try:
        names = main_container_names(template)
        ticker = asyncio.ensure_future(report_progress()) if settings.progress_file else None
        try:
            codes = await wait_for_containers(paths, names, poll_interval=settings.poll_interval, deadline=settings.deadline,
                                              grace_period=settings.grace_period, now=now, sleep=sleep, probe=probe)
        finally:
            if ticker is not None:
                ticker.cancel()
                # a failed progress write is not an output error: the final write carries progress too
                await asyncio.gather(ticker, return_exceptions=True)
        if settings.sidecars:
            signal_containers(paths, settings.sidecars, 15)
        # containerSet: only a container named `main` contributes `result` (§3.9)
        result = capture_result(paths) if settings.include_script_output and "main" in names else None
        params, perrs = collect_parameters(template, paths)
        # uploads block on disk and network: keep them off the event loop the sink may share
        arts, aerrs = await asyncio.to_thread(collect_artifacts, template, paths, repository, work_dir=work_dir)
        logs, lerrs = await asyncio.to_thread(collect_logs, template, paths, repository, names)
        arts += logs
        errors += [str(e) for e in (*perrs, *aerrs, *lerrs)]
        outputs = build_outputs(parameters=params, artifacts=arts, result=result)
        final = result_obj(True, outputs)
        await report_task_result(sink, final, attempts=settings.report_attempts, sleep=sleep)
    except ExecutorError as exc:
        errors.append(str(exc))
    finally:
        if final is None:  # finalize even on failure (Argo's deferred FinalizeOutput)
            final = result_obj(True, outputs or None)
            await report_task_result(sink, final, attempts=settings.report_attempts, sleep=sleep)
    return WaitOutcome(exit_code=1 if errors else 0, exit_codes=codes, task_result=final, errors=tuple(errors))
