"""init and wait around the real wrapper: staging, outputs, the WorkflowTaskResult object."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tiphys.executor import ExecutorPaths, TemplateError, WaitSettings, run_init, run_wait
from tiphys.executor.artifacts import ArtifactRepository, LocalDriver, RawDriver, make_tgz
from tiphys.executor.outputs import MAX_RESULT_BYTES, capture_result
from tiphys.executor.wait import signal_containers, wait_for_containers

from .conftest import PY, Emissary


class Sink:
    """Records every object written, like the API boundary's create_or_update would receive."""

    def __init__(self, fail_first: int = 0) -> None:
        self.objects: list[dict[str, Any]] = []
        self.fail_first = fail_first

    async def __call__(self, obj: dict[str, Any]) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("apiserver unreachable")
        self.objects.append(json.loads(json.dumps(obj)))


async def _no_sleep(_: float) -> None:
    await asyncio.sleep(0)


def _repo(tmp_path: Path) -> ArtifactRepository:
    return ArtifactRepository(drivers={"raw": RawDriver()}, default=LocalDriver(tmp_path / "store"),
                              key_variables={"workflow.name": "wf", "pod.name": "wf-pod"})


SETTINGS = WaitSettings(node_id="wf-1234567890", workflow_name="wf", workflow_uid="uid-1", namespace="argo",
                        include_script_output=True, poll_interval=0.02)


# -- init ---------------------------------------------------------------------------------------

def test_init_stages_template_script_and_inputs(paths: ExecutorPaths, wrapper: Path, tmp_path: Path) -> None:
    """init installs the wrapper, writes the template read-only, stages the script, loads inputs."""
    store = tmp_path / "store"
    src = tmp_path / "dataset"
    src.mkdir()
    (src / "rows.csv").write_text("1,2\n")
    store.mkdir()
    make_tgz(src, store / "prev.tgz")
    template = {
        "name": "t",
        "script": {"image": "python", "command": ["python"], "source": "print('hi')\n",
                   "volumeMounts": [{"name": "work", "mountPath": "/work"}]},
        "inputs": {"artifacts": [
            {"name": "data", "path": "/data", "s3": {"key": "prev.tgz"}},
            {"name": "cfg", "path": "/etc/cfg.txt", "raw": {"data": "k=v"}},
            {"name": "onvol", "path": "/work/sub/x.txt", "raw": {"data": "on a volume"}},
            {"name": "maybe", "path": "/maybe", "optional": True, "s3": {"key": "absent"}},
        ]},
    }
    raw = json.dumps(template).encode()
    loaded = run_init(template, paths, _repo(tmp_path), template_json=raw, wrapper=wrapper)
    assert loaded == ["data", "cfg", "onvol"]
    tf = paths.template_file()
    assert tf.read_bytes() == raw and tf.stat().st_mode & 0o777 == 0o444
    assert Path(paths.var_run, "argoexec").stat().st_mode & 0o111
    assert Path(paths.staging, "script").read_text() == "print('hi')\n"
    assert Path(paths.inputs, "data", "rows.csv").read_text() == "1,2\n"
    assert Path(paths.inputs, "cfg").read_text() == "k=v"
    assert Path(paths.mainctrfs, "work", "sub", "x.txt").read_text() == "on a volume"
    assert not Path(paths.inputs, "maybe").exists()
    # a second init (container restart) replaces the read-only template without error
    run_init(template, paths, _repo(tmp_path), template_json=raw)


def test_init_rejects_bad_artifact_names(paths: ExecutorPaths, tmp_path: Path) -> None:
    template = {"inputs": {"artifacts": [{"name": "../../evil", "path": "/x", "raw": {"data": ""}}]}}
    with pytest.raises(TemplateError) as err:
        run_init(template, paths, _repo(tmp_path))
    assert err.value.where == "$.inputs.artifacts[0].name"


def test_init_rejects_relative_or_dotdot_paths(paths: ExecutorPaths, tmp_path: Path) -> None:
    for bad in ("relative/path", "/a/../../b"):
        template = {"inputs": {"artifacts": [{"name": "a", "path": bad, "raw": {"data": ""}}]}}
        with pytest.raises(TemplateError):
            run_init(template, paths, _repo(tmp_path))


# -- wait ---------------------------------------------------------------------------------------

def _run_pod(emissary: Emissary, template: dict, cmd: list[str], tmp_path: Path, *, settings: WaitSettings = SETTINGS,
             sink: Sink | None = None):
    """Run main through the wrapper, then the wait side, as the two containers of one pod."""
    proc = emissary.run(cmd, template)
    sink = sink or Sink()
    outcome = asyncio.run(run_wait(template, emissary.paths, settings, sink=sink, repository=_repo(tmp_path),
                                   work_dir=tmp_path, sleep=_no_sleep))
    return proc, outcome, sink


def test_wait_reports_outputs_as_a_task_result(emissary: Emissary, tmp_path: Path) -> None:
    """Parameters, artifacts and result in Argo's shape; labels, owner and the two-phase protocol."""
    out = tmp_path / "out"
    template = {"name": "gen", "outputs": {
        "parameters": [{"name": "p", "valueFrom": {"path": str(out / "p.txt")}, "globalName": "gp"},
                       {"name": "d", "valueFrom": {"path": str(out / "missing"), "default": "fallback"}}],
        "artifacts": [{"name": "report", "path": str(out / "report")},
                      {"name": "opt", "path": str(out / "nothing"), "optional": True}]}}
    script = (f"mkdir -p {out}/report && printf 'v1\\n\\n' > {out}/p.txt && echo r > {out}/report/r.txt && "
              "printf 'line1\\nline2\\n'")
    proc, outcome, sink = _run_pod(emissary, template, ["sh", "-c", script], tmp_path)
    assert proc.returncode == 0
    assert outcome.exit_code == 0 and outcome.errors == ()
    assert outcome.exit_codes == {"main": 0}
    first, last = sink.objects
    assert first["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "false"
    assert "outputs" not in first
    assert last == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTaskResult",
        "metadata": {
            "name": "wf-1234567890",
            "namespace": "argo",
            "labels": {"workflows.argoproj.io/workflow": "wf", "workflows.argoproj.io/report-outputs-completed": "true"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf", "uid": "uid-1"}],
        },
        "outputs": {
            "parameters": [
                {"name": "p", "valueFrom": {"path": str(out / "p.txt")}, "globalName": "gp", "value": "v1\n"},
                {"name": "d", "valueFrom": {"path": str(out / "missing"), "default": "fallback"}, "value": "fallback"},
            ],
            "artifacts": [
                {"name": "report", "path": str(out / "report"), "s3": {"key": "wf/wf-pod/report.tgz"}},
                {"name": "opt", "path": str(out / "nothing"), "optional": True},
            ],
            "result": "line1\nline2",
        },
    }
    assert (tmp_path / "store" / "wf" / "wf-pod" / "report.tgz").exists()


def test_missing_parameter_without_default_fails_wait(emissary: Emissary, tmp_path: Path) -> None:
    """Still reported and finalized, but the wait container exits 1 with the place named."""
    template = {"outputs": {"parameters": [{"name": "p", "valueFrom": {"path": str(tmp_path / "never")}}],
                            "artifacts": [{"name": "a", "path": str(tmp_path / "never-art")}]}}
    _, outcome, sink = _run_pod(emissary, template, ["true"], tmp_path)
    assert outcome.exit_code == 1
    assert any("$.outputs.parameters[0].valueFrom.path" in e for e in outcome.errors)
    assert any("$.outputs.artifacts[0].path" in e for e in outcome.errors)
    assert sink.objects[-1]["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"


def test_result_is_the_last_256_kib(emissary: Emissary, tmp_path: Path) -> None:
    size = MAX_RESULT_BYTES + 50_000
    script = f"import sys\nsys.stdout.write(''.join(chr(65 + i % 26) for i in range({size})) + '\\n')"
    _, outcome, sink = _run_pod(emissary, {}, [PY, "-c", script], tmp_path)
    result = sink.objects[-1]["outputs"]["result"]
    expected = "".join(chr(65 + i % 26) for i in range(size))[-MAX_RESULT_BYTES:]
    assert len(result) == MAX_RESULT_BYTES and result == expected


def test_result_trims_exactly_one_newline(paths: ExecutorPaths) -> None:
    ctr = paths.ctr("main")
    ctr.mkdir(parents=True)
    for raw, want in [(b"a\n\n", "a\n"), (b"a", "a"), (b"", ""), (b"\n", ""), (b"a\r\n", "a\r")]:
        (ctr / "stdout").write_bytes(raw)
        assert capture_result(paths) == want
    (ctr / "stdout").unlink()
    assert capture_result(paths) is None


def test_no_result_without_the_flag(emissary: Emissary, tmp_path: Path) -> None:
    settings = WaitSettings(node_id="n", workflow_name="wf", include_script_output=False, poll_interval=0.02)
    _, outcome, sink = _run_pod(emissary, {}, ["echo", "hi"], tmp_path, settings=settings)
    assert "outputs" not in sink.objects[-1]


def test_outputs_read_through_mainctrfs_for_volume_paths(emissary: Emissary, paths: ExecutorPaths, tmp_path: Path) -> None:
    """On a volume mount the wrapper copies nothing; wait reads /mainctrfs/<path>."""
    template = {"container": {"volumeMounts": [{"name": "w", "mountPath": "/workspace"}]},
                "outputs": {"parameters": [{"name": "out", "valueFrom": {"path": "/workspace/out"}}],
                            "artifacts": [{"name": "out", "path": "/workspace/out", "archive": {"none": {}}}]}}
    mirror = Path(paths.mainctrfs, "workspace")
    mirror.mkdir(parents=True)
    (mirror / "out").write_text("hi")
    _, outcome, sink = _run_pod(emissary, template, ["true"], tmp_path)
    outs = sink.objects[-1]["outputs"]
    assert outs["parameters"][0]["value"] == "hi"
    assert outs["artifacts"][0]["s3"] == {"key": "wf/wf-pod/out"}
    assert (tmp_path / "store" / "wf" / "wf-pod" / "out").read_text() == "hi"


def test_container_set_waits_for_every_container(emissary: Emissary, tmp_path: Path) -> None:
    template = {"containerSet": {"containers": [{"name": "a"}, {"name": "main", "dependencies": ["a"]}]}}
    a = emissary.popen(["sh", "-c", "sleep 0.3; exit 0"], template, container="a")
    main = emissary.popen(["sh", "-c", "echo from-main"], template, container="main")
    sink = Sink()
    outcome = asyncio.run(run_wait(template, emissary.paths, SETTINGS, sink=sink, repository=_repo(tmp_path)))
    a.wait(60), main.wait(60)
    assert outcome.exit_codes == {"a": 0, "main": 0}
    assert sink.objects[-1]["outputs"]["result"] == "from-main"


def test_deadline_terminates_main_through_the_signal_file(emissary: Emissary, tmp_path: Path) -> None:
    """Past ARGO_DEADLINE the wait side writes SIGTERM for main; the wrapper delivers it."""
    proc = emissary.popen(["sleep", "300"], {})
    settings = WaitSettings(node_id="n", workflow_name="wf", deadline=time.time() - 1, poll_interval=0.05)
    t0 = time.monotonic()
    outcome = asyncio.run(run_wait({}, emissary.paths, settings, sink=Sink(), repository=_repo(tmp_path)))
    proc.wait(60)
    assert time.monotonic() - t0 < 60  # well under main's 300 s: a wait, not a speed limit
    assert outcome.exit_codes == {"main": 137}


def test_sigkill_follows_after_the_grace_period(paths: ExecutorPaths) -> None:
    """A fake clock steps past the grace period: SIGTERM first, then SIGKILL (no real waiting)."""
    clock = [1000.0]
    written: list[str] = []

    async def fake_sleep(dt: float) -> None:
        sig = paths.ctr("main") / "signal"
        if sig.exists():
            written.append(sig.read_text())
            sig.unlink()
        clock[0] += 10
        if len(written) == 2:
            paths.exitcode("main").write_text("137")

    codes = asyncio.run(wait_for_containers(paths, ["main"], deadline=1005.0, grace_period=30.0,
                                            now=lambda: clock[0], sleep=fake_sleep))
    assert written == ["15", "9"] and codes == {"main": 137}


def test_sidecars_are_told_to_stop(emissary: Emissary, tmp_path: Path) -> None:
    side = emissary.popen(["sleep", "30"], {}, container="side")
    settings = WaitSettings(node_id="n", workflow_name="wf", poll_interval=0.02, sidecars=("side",))
    _run_pod(emissary, {}, ["true"], tmp_path, settings=settings)
    side.wait(60)
    assert emissary.exitcode("side") == "137"


def test_transient_sink_errors_are_retried(emissary: Emissary, tmp_path: Path) -> None:
    sink = Sink(fail_first=2)
    _, outcome, _ = _run_pod(emissary, {}, ["true"], tmp_path, sink=sink)
    assert outcome.exit_code == 0
    assert [o["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] for o in sink.objects] == ["false", "true"]


def test_progress_is_reported(emissary: Emissary, tmp_path: Path) -> None:
    progress = tmp_path / "progress"
    settings = WaitSettings(node_id="n", workflow_name="wf", poll_interval=0.02, progress_file=str(progress))
    _, _, sink = _run_pod(emissary, {}, ["sh", "-c", f"echo 1/4 > {progress}; echo 3/4 >> {progress}; echo junk >> {progress}"],
                          tmp_path, settings=settings)
    assert sink.objects[-1]["progress"] == "3/4"


def test_signal_containers_is_atomic(paths: ExecutorPaths) -> None:
    signal_containers(paths, ["a", "b"], 15)
    assert (paths.ctr("a") / "signal").read_text() == "15"
    assert not (paths.ctr("a") / ".signal.tmp").exists()


def test_settings_from_env() -> None:
    env = {"ARGO_NODE_ID": "n1", "ARGO_WORKFLOW_NAME": "wf", "ARGO_WORKFLOW_UID": "u",
           "ARGO_INCLUDE_SCRIPT_OUTPUT": "true", "ARGO_DEADLINE": "0001-01-01T00:00:00Z"}
    s = WaitSettings.from_env(env)
    assert (s.node_id, s.include_script_output, s.deadline) == ("n1", True, None)
    s2 = WaitSettings.from_env({**env, "ARGO_DEADLINE": "2030-01-01T00:00:00Z", "ARGO_SIDECAR_NAMES": "a,b"})
    assert s2.deadline == 1893456000.0 and s2.sidecars == ("a", "b")


def test_settings_from_env_names_missing_variables() -> None:
    from tiphys.executor import ExecutorError
    with pytest.raises(ExecutorError, match="ARGO_NODE_ID"):
        WaitSettings.from_env({"ARGO_WORKFLOW_NAME": "wf"})


def test_paths_from_env() -> None:
    p = ExecutorPaths.from_env({"ARGO_VAR_RUN": "/x/run", "UNRELATED": "1"})
    assert p.var_run == "/x/run" and p.staging == "/argo/staging"
    assert str(p.output_artifact("/tmp/out")) == "/x/run/outputs/artifacts/tmp/out.tgz"
    assert str(p.output_parameter("/tmp/a/b.txt")) == "/x/run/outputs/parameters/tmp/a/b.txt"


def test_archive_logs(emissary: Emissary, tmp_path: Path) -> None:
    """archiveLocation.archiveLogs: the wrapper tees even without the result flag; wait uploads main.log."""
    template = {"archiveLocation": {"archiveLogs": True, "s3": {"key": "wf/wf-pod"}}}
    proc = emissary.run(["sh", "-c", "echo to-out; echo to-err >&2"], template, include_output=False)
    assert proc.returncode == 0
    settings = WaitSettings(node_id="n", workflow_name="wf", poll_interval=0.02)
    sink = Sink()
    asyncio.run(run_wait(template, emissary.paths, settings, sink=sink, repository=_repo(tmp_path), sleep=_no_sleep))
    outs = sink.objects[-1]["outputs"]
    assert "result" not in outs
    assert outs["artifacts"] == [{"name": "main-logs", "s3": {"key": "wf/wf-pod/main.log"}}]
    assert sorted((tmp_path / "store" / "wf" / "wf-pod" / "main.log").read_text().splitlines()) == ["to-err", "to-out"]


def test_probe_covers_a_wrapper_killed_outright(emissary: Emissary, tmp_path: Path) -> None:
    """SIGKILL to the wrapper leaves no exitcode file; the outside probe still ends the wait."""
    import signal
    proc = emissary.popen(["sleep", "30"], {})
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)

    async def probe(name: str) -> int | None:
        return 137 if proc.poll() is not None else None

    settings = WaitSettings(node_id="n", workflow_name="wf", poll_interval=0.02)
    outcome = asyncio.run(run_wait({}, emissary.paths, settings, sink=Sink(), repository=_repo(tmp_path), probe=probe))
    assert not emissary.paths.exitcode("main").exists()
    assert outcome.exit_codes == {"main": 137}


def test_progress_is_published_while_main_runs(emissary: Emissary, tmp_path: Path) -> None:
    """The wait side re-writes the (incomplete) task result when the user's progress changes."""
    # main moves on only once the wait side published its progress (the sink acknowledges it): with
    # fixed 0.4 s sleeps, a wait side slowed by a loaded machine missed a value and the test failed
    progress = tmp_path / "progress"
    ack = {"1/3": tmp_path / "ack1", "2/3": tmp_path / "ack2"}
    wait = "n=0; while [ ! -f {} ] && [ $n -lt 1500 ]; do sleep 0.02; n=$((n+1)); done"
    proc = emissary.popen(["sh", "-c", f"echo 1/3 > {progress}; {wait.format(ack['1/3'])}; "
                                       f"echo 2/3 >> {progress}; {wait.format(ack['2/3'])}"], {})
    settings = WaitSettings(node_id="n", workflow_name="wf", poll_interval=0.02, progress_file=str(progress),
                            progress_interval=0.1)

    class AckingSink(Sink):
        async def __call__(self, obj: dict[str, Any]) -> None:
            await super().__call__(obj)
            if obj.get("progress") in ack:
                ack[obj["progress"]].touch()

    sink = AckingSink()
    asyncio.run(run_wait({}, emissary.paths, settings, sink=sink, repository=_repo(tmp_path)))
    proc.wait(60)
    running = [o.get("progress") for o in sink.objects
               if o["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "false"]
    assert "1/3" in running and "2/3" in running
    assert sink.objects[-1]["progress"] == "2/3"
