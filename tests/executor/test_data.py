"""The `data` command: listing a location, transformations in expr-lang, the Go-encoded result,
and its task results (Argo's `argoexec data`)."""
from __future__ import annotations

import asyncio
import datetime as _dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tiphys.executor import ArtifactConfigError
from tiphys.executor.artifacts import ArtifactRepository, LocalDriver, list_prefix
from tiphys.executor.data import (FAILURE_EXIT_CODE, DataError, DataSettings, encode_result, list_source, process,
                                  run_data, transform)

FILES = ["logs/a/main.log", "logs/a/wait.log", "logs/b/c/main.log", "logs/b/notes.txt", "logsx/main.log",
         "other/main.log"]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    for key in FILES:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(key)
    return root


def _repo(store: Path, archive: dict | None = None, **drivers: Any) -> ArtifactRepository:
    return ArtifactRepository(drivers=drivers, default=LocalDriver(store), archive_location=archive)


def _template(key: str = "logs", transformation: list | None = None, **s3: Any) -> dict:
    data: dict = {"source": {"artifactPaths": {"name": "files", "s3": {"key": key, **s3}}}}
    if transformation is not None:
        data["transformation"] = transformation
    return {"name": "list", "data": data}


# -- listing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, prefix", [
    pytest.param("", "", id="empty-lists-all"), pytest.param("logs", "logs/", id="dir"),
    pytest.param("logs/", "logs/", id="trailing-slash"), pytest.param("./logs//a/", "logs/a/", id="cleaned"),
    pytest.param("/logs", "logs/", id="leading-slash"), pytest.param("a/../logs", "logs/", id="dotdot-inside"),
])
def test_list_prefix_is_argos_clean_plus_slash(key: str, prefix: str) -> None:
    """ListDirectory's prefix: filepath.Clean(key) + "/", everything for an empty key."""
    assert list_prefix(key) == prefix


def test_list_prefix_refuses_climbing_out() -> None:
    """A key above the root is refused, naming it."""
    with pytest.raises(ArtifactConfigError, match="would leave"):
        list_prefix("../secrets")


def test_local_listing_is_recursive_full_keys_in_s3_order(store: Path) -> None:
    """Every file below the prefix, as its full key, byte-ordered; `logsx/` is not under `logs/`."""
    (store / "logs" / "B.log").write_text("upper case sorts first in byte order")
    assert LocalDriver(store).list({"key": "logs"}) == [
        "logs/B.log", "logs/a/main.log", "logs/a/wait.log", "logs/b/c/main.log", "logs/b/notes.txt"]
    assert LocalDriver(store).list({"key": ""}) == sorted([*FILES, "logs/B.log"])


def test_local_listing_of_a_missing_key_or_one_object_is_empty(store: Path) -> None:
    """As S3: no objects under `nothing/`, none under `logs/a/main.log/`."""
    assert LocalDriver(store).list({"key": "nothing"}) == []
    assert LocalDriver(store).list({"key": "logs/a/main.log"}) == []


def test_local_listing_skips_an_upload_in_progress(store: Path, tmp_path: Path) -> None:
    """put()'s temporary name is not an object yet; the renamed file is."""
    driver = LocalDriver(store)
    (store / "logs" / f".new.log.{'0' * 32}.part").write_text("half")
    src = tmp_path / "new.log"
    src.write_text("whole")
    assert "logs/.new.log." not in " ".join(driver.list({"key": "logs"}))
    driver.put(src, {"key": "logs/new.log"})
    assert "logs/new.log" in driver.list({"key": "logs"})


def test_key_only_location_lists_the_local_repository(store: Path) -> None:
    """No archiveLocation and an incomplete location: the local default repository."""
    listed = _repo(store).list_objects({"name": "f", "s3": {"key": "logs/b"}})
    assert listed == ["logs/b/c/main.log", "logs/b/notes.txt"]


def test_incomplete_location_is_relocated_onto_the_archive_location(store: Path) -> None:
    """Argo's Relocate: the archiveLocation's whole location, the artifact's own key only (its
    bucket is dropped); a key-only archive location is the local repository."""
    repo = _repo(store, {"s3": {"key": "wf/pod"}, "archiveLogs": False})
    assert repo.list_objects({"name": "f", "s3": {"bucket": "ignored", "key": "logs/a"}}) == [
        "logs/a/main.log", "logs/a/wait.log"]


@pytest.mark.parametrize("artifact, archive, message", [
    pytest.param({"name": "f"}, None, "no location to list", id="no-location"),
    pytest.param({"name": "f", "git": {"repo": "https://example.com/r.git"}}, None, "git artifacts cannot be listed",
                 id="git"),
    pytest.param({"name": "f", "s3": {"key": "k"}}, {"artifactory": {"url": "https://a/b"}},
                 "artifactory location, which cannot be listed", id="archive-artifactory"),
])
def test_unlistable_locations_are_refused(store: Path, artifact: dict, archive: dict | None, message: str) -> None:
    """Only s3 locations (and the repository) can be listed; the error names the artifact."""
    with pytest.raises(ArtifactConfigError, match=message) as info:
        _repo(store, archive).list_objects(artifact)
    assert "'f'" in str(info.value)


def test_no_repository_at_all_is_argos_error() -> None:
    """Incomplete location, no archiveLocation, no local default: Argo's `template artifact location not set`."""
    repo = ArtifactRepository(drivers={})
    with pytest.raises(ArtifactConfigError, match="template artifact location not set"):
        repo.list_objects({"name": "f", "s3": {"bucket": "b"}})


def test_source_errors_name_the_field(store: Path) -> None:
    """A missing source, or a failing listing, names `$.data.source...`."""
    with pytest.raises(DataError) as info:
        list_source({"transformation": []}, _repo(store))
    assert info.value.where == "$.data.source" and "no valid source" in str(info.value)
    with pytest.raises(DataError) as info:
        list_source({"source": {"artifactPaths": {"name": "f", "http": {"url": "https://x"}}}}, _repo(store))
    assert info.value.where == "$.data.source.artifactPaths"


# -- transformations -----------------------------------------------------------------------------

KEYS = ["logs/a/main.log", "logs/a/wait.log", "logs/b/c/main.log"]


@pytest.mark.parametrize("steps, expected", [
    pytest.param([{"expression": 'filter(data, {# endsWith "main.log"})'}], ["logs/a/main.log", "logs/b/c/main.log"],
                 id="filter-as-the-example"),
    pytest.param([{"expression": 'map(data, {split(#, "/")[1]})'}, {"expression": "uniq(data)"}], ["a", "b"],
                 id="chained-steps-see-the-previous-value"),
    pytest.param([{"expression": "len(data)"}], 3, id="scalar"),
    pytest.param([{"expression": ""}, {"expression": "data[0]"}], "logs/a/main.log", id="empty-step-skipped"),
    pytest.param([{"expression": 'data | filter(# contains "/a/") | map(upper(#))'}],
                 ["LOGS/A/MAIN.LOG", "LOGS/A/WAIT.LOG"], id="pipes"),
])
def test_transformations(steps: list, expected: Any) -> None:
    """Each expression runs over `data`, the previous step's value."""
    assert transform(KEYS, steps)[0] == expected


@pytest.mark.parametrize("steps, where, message", [
    pytest.param([{"expression": "len(data)"}, {"expression": "data +"}], "$.data.transformation[1].expression",
                 "error processing data step 1", id="syntax"),
    pytest.param([{"expression": "data[0] + 1"}], "$.data.transformation[0].expression", "error processing data step 0",
                 id="evaluation"),
    pytest.param([{"expression": "nosuch(data)"}], "$.data.transformation[0].expression", "nosuch", id="unknown-name"),
    pytest.param([{"expr": "data"}], "$.data.transformation[0].expression", "needs an expression", id="missing"),
    pytest.param(["data"], "$.data.transformation[0]", "expected an object", id="not-an-object"),
    pytest.param({"expression": "data"}, "$.data.transformation", "expected a list", id="not-a-list"),
])
def test_bad_transformations_name_the_field(steps: Any, where: str, message: str) -> None:
    """The error names the step's field and says what went wrong."""
    with pytest.raises(DataError, match=message) as info:
        transform(KEYS, steps)
    assert info.value.where == where and where in str(info.value)


def test_now_is_the_callers_time() -> None:
    """`now()` is expr's builtin, at the time the command passes in."""
    at = _dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=_dt.timezone.utc)
    assert transform([], [{"expression": "now().Year()"}], now=at)[0] == 2026


# -- the result ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    pytest.param(["a<b", "c&d"], '["a\\u003cb","c\\u0026d"]', id="html-escaped"),
    pytest.param({"b": 1, "a": [1.0, 0.5, 1e21]}, '{"a":[1,0.5,1e+21],"b":1}', id="sorted-keys-go-floats"),
    pytest.param(None, "null", id="null"),
    pytest.param("é\n", '"é\\n"', id="unicode-kept"),
])
def test_result_is_go_json(value: Any, text: str) -> None:
    """json.Marshal's text, byte for byte."""
    assert encode_result(value) == text


@pytest.mark.parametrize("expression, message", [
    pytest.param("groupBy(data, len(#))", "map key 15 is not a string", id="int-keys"),
    pytest.param("1 / 0", "unsupported value", id="infinity"),
])
def test_unencodable_results_name_the_last_step(store: Path, expression: str, message: str) -> None:
    """A value Go cannot marshal fails at the expression that produced it."""
    tmpl = _template("logs/a", [{"expression": "data"}, {"expression": expression}])
    with pytest.raises(DataError, match=message) as info:
        process(tmpl, _repo(store))
    assert info.value.where == "$.data.transformation[1].expression"


def test_empty_listing_is_null_then_an_empty_list_after_an_expression(store: Path) -> None:
    """Go's nil slice marshals as null; expr's filter over it makes an empty array."""
    assert process(_template("nothing"), _repo(store)) == "null"
    assert process(_template("nothing", [{"expression": "filter(data, true)"}]), _repo(store)) == "[]"


def test_process_lists_and_filters_like_the_example(store: Path) -> None:
    """data-transformations.yaml's transformation over a local listing."""
    tmpl = _template("logs", [{"expression": 'filter(data, {# endsWith "main.log"})'}])
    assert process(tmpl, _repo(store)) == '["logs/a/main.log","logs/b/c/main.log"]'


# -- the command ---------------------------------------------------------------------------------

SETTINGS = DataSettings(node_id="wf-1234", workflow_name="wf", workflow_uid="uid-1", namespace="ns")


def test_run_reports_pending_then_the_result(store: Path) -> None:
    """Argo's order: a task result with report-outputs-completed=false, then the outputs with =true."""
    seen: list[dict] = []

    async def sink(obj: dict) -> None:
        seen.append(json.loads(json.dumps(obj)))
    outcome = asyncio.run(run_data(_template("logs/b"), _repo(store), SETTINGS, sink=sink, log=lambda _: None))
    assert outcome.exit_code == 0 and outcome.message == ""
    completed = [o["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] for o in seen]
    assert completed == ["false", "true"]
    assert "outputs" not in seen[0]
    assert seen[1]["outputs"] == {"result": '["logs/b/c/main.log","logs/b/notes.txt"]'}
    assert seen[1]["metadata"]["name"] == "wf-1234" and seen[1]["metadata"]["namespace"] == "ns"


def test_run_failure_is_exit_64_with_the_message_and_no_outputs(store: Path) -> None:
    """A bad step: the final task result is completed without outputs; exit 64; message names the field."""
    seen: list[dict] = []

    async def sink(obj: dict) -> None:
        seen.append(obj)
    logged: list[str] = []
    outcome = asyncio.run(run_data(_template("logs", [{"expression": "data.x.y"}]), _repo(store), SETTINGS,
                                   sink=sink, log=logged.append))
    assert outcome.exit_code == FAILURE_EXIT_CODE == 64
    assert "$.data.transformation[0].expression" in outcome.message and outcome.message in logged
    assert seen[-1]["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert "outputs" not in seen[-1]


def test_settings_need_the_node_and_workflow() -> None:
    """Without ARGO_NODE_ID the command cannot name its task result."""
    from tiphys.executor import ExecutorError
    with pytest.raises(ExecutorError, match="ARGO_NODE_ID"):
        DataSettings.from_env({"ARGO_WORKFLOW_NAME": "wf"})


def _executor_env(tmp_path: Path, store: Path, template: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGO_", "TIPHYS_"))}
    env.update(ARGO_VAR_RUN=str(tmp_path / "var-run"), ARGO_TEMPLATE=json.dumps(template), ARGO_NODE_ID="wf-9",
               ARGO_WORKFLOW_NAME="wf", ARGO_WORKFLOW_UID="u-1", TIPHYS_ARTIFACT_DIR=str(store),
               TIPHYS_TASK_RESULT_DIR=str(tmp_path / "results"))
    return env


@pytest.mark.parametrize("transformation, code, result", [
    pytest.param([{"expression": 'filter(data, {# endsWith "main.log"})'}], 0,
                 '["logs/a/main.log","logs/b/c/main.log"]', id="ok"),
    pytest.param([{"expression": "data["}], 64, None, id="bad-expression"),
])
def test_the_entry_point_as_a_process(tmp_path: Path, store: Path, transformation: list, code: int,
                                      result: str | None) -> None:
    """`python -m tiphys.executor data <json>` as a pod's main runs it: the result in the relay dir."""
    tmpl = _template("logs", transformation)
    proc = subprocess.run([sys.executable, "-m", "tiphys.executor", "data", json.dumps(tmpl["data"])],
                          env=_executor_env(tmp_path, store, tmpl), capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == code, proc.stderr
    written = json.loads((tmp_path / "results" / "wf-9.json").read_text())
    assert written["metadata"]["labels"]["workflows.argoproj.io/report-outputs-completed"] == "true"
    assert (written.get("outputs") or {}).get("result") == result
    if code:
        assert "$.data.transformation[0].expression" in proc.stdout
