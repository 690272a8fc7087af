"""`python -m tiphys.executor init|wait|resource|data|agent|argosay ...`: the in-pod entry points.

Thin by design: read the environment once, build settings and the artifact repository, call the
library function, turn its outcome into an exit code. A failure prints one line naming what
failed and exits non-zero (init failures make the node Error, as in Argo).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from ._errors import ExecutorError
from .paths import ExecutorPaths


def _init(args: argparse.Namespace) -> int:
    from .init import run_init
    from .runtime import repository_from_env
    from .template import decode_template, read_template
    env = dict(os.environ)
    paths = ExecutorPaths.from_env(env)
    raw = env.get("ARGO_TEMPLATE", "")
    if raw and raw != "offloaded":
        template, template_json = decode_template(raw), raw.encode()
    else:
        template, template_json = read_template(paths, env), None
    from .wrapper import find_wrapper
    wrapper = Path(args.wrapper) if args.wrapper else find_wrapper(env)
    with tempfile.TemporaryDirectory(prefix="tiphys-init-") as tmp:
        repo = repository_from_env(template, paths, env, work_dir=Path(tmp))
        loaded = run_init(template, paths, repo, template_json=template_json, wrapper=wrapper)
    print(f"init: loaded input artifacts {loaded}", file=sys.stderr)
    return 0


def _wait(args: argparse.Namespace) -> int:
    """`wait`: outputs to the node agent's file relay, or through the API with the pod's service account."""
    from .runtime import repository_from_env, task_result_sink
    from .template import read_template
    from .wait import WaitSettings, run_wait
    env = dict(os.environ)
    paths = ExecutorPaths.from_env(env)
    template = read_template(paths, env)
    settings = WaitSettings.from_env(env)

    async def go(repo, work_dir: Path):
        async with task_result_sink(env, directory=args.task_result_dir) as sink:
            return await run_wait(template, paths, settings, sink=sink, repository=repo, work_dir=work_dir)
    with tempfile.TemporaryDirectory(prefix="tiphys-wait-") as tmp:
        repo = repository_from_env(template, paths, env, work_dir=Path(tmp))
        outcome = asyncio.run(go(repo, Path(tmp)))
    for err in outcome.errors:
        print(f"wait: {err}", file=sys.stderr)
    return outcome.exit_code


def _resource(args: argparse.Namespace) -> int:
    """`resource <action>`: Argo's resource template main, through the pod's service account."""
    from .kube import InClusterClient, api_sink
    from .resource.command import ResourceSettings, run_resource
    from .runtime import FileTaskResultSink, account_dir
    from .template import read_template
    env = dict(os.environ)
    template = read_template(ExecutorPaths.from_env(env), env)
    settings = ResourceSettings.from_env(env)
    sink_dir = args.task_result_dir or env.get("TIPHYS_TASK_RESULT_DIR")

    async def go() -> int:
        # the actions need the API whatever the sink; the node agent plays this command in-process
        async with InClusterClient.from_env(env, account_dir=account_dir(env)) as client:
            sink = FileTaskResultSink(sink_dir) if sink_dir else api_sink(client)
            outcome = await run_resource(template, args.action, client, settings, sink=sink,
                                         log=lambda line: print(line, flush=True))
        if outcome.message:
            _termination_message(outcome.message)
        return outcome.exit_code
    return asyncio.run(go())


def _data(args: argparse.Namespace) -> int:
    """`data [<json>]`: a data template's main (Argo's `argoexec data`), reporting its own result."""
    from ._errors import TemplateError
    from .data import DataSettings, run_data
    from .runtime import repository_from_env, task_result_sink
    from .template import decode_template, read_template
    env = dict(os.environ)
    paths = ExecutorPaths.from_env(env)
    try:
        template = read_template(paths, env)
    except TemplateError:
        if not args.spec:
            raise
        # argoexec reads the template only; the argument (the data section) is a fallback here
        template = {"data": decode_template(args.spec, source="the data argument")}
    settings = DataSettings.from_env(env)

    async def go() -> int:
        async with task_result_sink(env, directory=args.task_result_dir) as sink:
            outcome = await run_data(template, repository_from_env(template, paths, env), settings, sink=sink,
                                     log=lambda line: print(line, flush=True))
        if outcome.message:
            _termination_message(outcome.message)
        return outcome.exit_code
    return asyncio.run(go())


def _agent(args: argparse.Namespace) -> int:
    """`agent init|main`: the HTTP templates' agent pod (Argo's `argoexec agent`)."""
    if args.role == "init":
        return 0  # Argo's init prepares executor-plugin tokens; tiphys has no plugins
    from .agent import AgentSettings, KubeTaskSetApi, run_agent
    from .kube import InClusterClient
    from .runtime import account_dir
    env = dict(os.environ)
    settings = AgentSettings.from_env(env)

    async def go() -> int:
        async with InClusterClient.from_env(env, account_dir=account_dir(env)) as client:
            return await run_agent(KubeTaskSetApi(client, settings), settings,
                                   log=lambda line: print(line, flush=True))
    return asyncio.run(go())


def _artifact_gc(args: argparse.Namespace) -> int:
    """`artifact-gc`: delete the artifacts of this pod's WorkflowArtifactGCTasks (Argo's artifact GC pod)."""
    from .artifact_gc import GCSettings, KubeGCTaskApi, drivers_for, run_artifact_gc
    from .kube import InClusterClient
    from .runtime import account_dir, secret_file_resolver
    env = dict(os.environ)
    settings = GCSettings.from_env(env)
    drivers, default = drivers_for(secret_file_resolver(ExecutorPaths.from_env(env)), env)

    async def go() -> int:
        async with InClusterClient.from_env(env, account_dir=account_dir(env)) as client:
            return await run_artifact_gc(KubeGCTaskApi(client, settings), drivers=drivers, default=default,
                                         log=lambda line: print(line, flush=True))
    return asyncio.run(go())


def _termination_message(text: str) -> None:
    """argoexec's `WriteTerminateMessage`: the kubelet shows it as the container's message."""
    try:
        with open("/dev/termination-log", "w") as f:
            f.write(text)
    except OSError:
        pass  # not in a pod (or no termination log): the message is in the log already


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["argosay"]:
        from .argosay import main as argosay_main
        return argosay_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m tiphys.executor")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_init = sub.add_parser("init", help="stage the template, script and input artifacts")
    p_init.add_argument("--wrapper", help="wrapper binary to install as <var_run>/argoexec "
                        "(default: $TIPHYS_WRAPPER, else the one built beside tiphys.executor.wrapper)")
    p_wait = sub.add_parser("wait", help="wait for main, collect outputs, write the task result")
    p_wait.add_argument("--task-result-dir", help="write task results as JSON files here "
                        "(default: $TIPHYS_TASK_RESULT_DIR, else through the API with the pod's service account)")
    p_res = sub.add_parser("resource", help="run a resource template's action (Argo's argoexec resource)")
    p_res.add_argument("action", choices=["get", "create", "apply", "delete", "replace", "patch"])
    p_res.add_argument("--task-result-dir", help="write task results as JSON files here (default: through the API)")
    p_data = sub.add_parser("data", help="list and transform a data template's source (Argo's argoexec data)")
    p_data.add_argument("spec", nargs="?", help="the template's data section as JSON (read when no template is found)")
    p_data.add_argument("--loglevel", default="info", help="accepted for Argo's command line; unused")
    p_data.add_argument("--task-result-dir", help="write task results as JSON files here "
                        "(default: $TIPHYS_TASK_RESULT_DIR, else through the API with the pod's service account)")
    p_agent = sub.add_parser("agent", help="run the workflow's HTTP templates (Argo's argoexec agent)")
    p_agent.add_argument("role", choices=["init", "main"])
    p_agent.add_argument("--loglevel", default="info", help="accepted for Argo's command line; unused")
    p_gc = sub.add_parser("artifact-gc", help="delete the artifacts of this pod's WorkflowArtifactGCTasks")
    p_gc.add_argument("--loglevel", default="info", help="accepted for Argo's command line; unused")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "artifact-gc":
            return _artifact_gc(args)
        if args.cmd == "agent":
            return _agent(args)
        if args.cmd == "resource":
            return _resource(args)
        if args.cmd == "data":
            return _data(args)
        return _init(args) if args.cmd == "init" else _wait(args)
    except ExecutorError as exc:
        print(f"{args.cmd}: {type(exc).__name__}: {exc}", file=sys.stderr)
        if args.cmd in ("resource", "data"):
            _termination_message(str(exc))
            return 64  # argoexec's exit code for an error it reports
        return 1


if __name__ == "__main__":
    sys.exit(main())
