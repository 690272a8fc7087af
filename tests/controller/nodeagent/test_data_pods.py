"""Data templates end to end: controller engine, node agent playing `argoexec data`, embedded API,
the local artifact repository (data-transformations.yaml's shape, without its S3 bucket)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tiphys.controller.api import WORKFLOWS
from tiphys.controller.local import wait_completed
from tiphys.controller.nodeagent import ImageMap

pytest.importorskip("tiphys.controller.engine", reason="the controller engine is not there yet")
from tiphys.controller.engine import Engine  # noqa: E402


def _wf(name: str, templates: list[dict], entry: str = "main") -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"entrypoint": entry, "templates": templates}}


async def _run(h, wf: dict, *, timeout: float = 90) -> dict:
    engine = Engine(h.api, clock=h.clock, workers=2)
    await engine.start()
    try:
        await h.api.create(WORKFLOWS, wf, namespace="default")
        return await wait_completed(h.api, wf["metadata"]["name"], "default", timeout=timeout)
    finally:
        await engine.stop()


def _nodes(wf: dict, template: str) -> list[dict]:
    return [n for n in wf["status"]["nodes"].values() if n.get("templateName") == template]


def _store(tmp_path: Path, files: dict[str, str]) -> Path:
    # under the agent's root: visible from the containers' private mount namespaces
    store = tmp_path / "agent" / "artifacts"
    for key, text in files.items():
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        (store / key).write_text(text)
    return store


def _list_logs(transformation: list[dict]) -> dict:
    return {"name": "list-log-files", "data": {
        "source": {"artifactPaths": {"name": "test-bucket", "s3": {"key": "logs"}}},
        "transformation": transformation}}


PIPELINE = [
    {"name": "main", "steps": [
        [{"name": "produce", "template": "produce"}],
        [{"name": "list-log-files", "template": "list-log-files"}],
        [{"name": "process-logs", "template": "process-logs", "withParam": "{{steps.list-log-files.outputs.result}}",
          "arguments": {"artifacts": [{"name": "file", "s3": {"key": "{{item}}"}}],
                        "parameters": [{"name": "file-name", "value": "{{item}}"}]}}]]},
    # an earlier step adds an object to the repository: the listing sees it
    {"name": "produce", "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                                      "args": ["echo from the produce step > /tmp/w.log"]},
     "outputs": {"artifacts": [{"name": "w", "path": "/tmp/w.log", "archive": {"none": {}},
                                "s3": {"key": "logs/w/main.log"}}]}},
    _list_logs([{"expression": 'filter(data, {# endsWith "main.log"})'}]),
    {"name": "process-logs", "inputs": {"parameters": [{"name": "file-name"}],
                                        "artifacts": [{"name": "file", "path": "/file", "archive": {"none": {}}}]},
     "container": {"image": "busybox:1.36", "command": ["sh", "-c"],
                   "args": ["echo {{inputs.parameters.file-name}}; head /file"]}},
]


async def test_listing_feeds_with_param_of_the_next_step(harness, tmp_path):
    """data-transformations.yaml on one machine: the data step lists the repository under `logs/`
    (objects put there beforehand and one saved by an earlier step), keeps the `main.log` keys,
    and each key becomes one process-logs pod that loads that object as its input artifact."""
    store = _store(tmp_path, {"logs/x/main.log": "log of x\n", "logs/y/main.log": "log of y\n",
                              "logs/y/notes.txt": "not a log\n", "other/z/main.log": "outside the prefix\n"})
    async with harness(images=ImageMap(executor_env={"TIPHYS_ARTIFACT_DIR": str(store)})) as h:
        final = await _run(h, _wf("data-pipe", PIPELINE))
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        (listing,) = _nodes(final, "list-log-files")
        assert listing["type"] == "Pod"
        assert json.loads(listing["outputs"]["result"]) == ["logs/w/main.log", "logs/x/main.log", "logs/y/main.log"]
        children = sorted(_nodes(final, "process-logs"), key=lambda n: n["name"])
        assert [n["phase"] for n in children] == ["Succeeded"] * 3
        logs = sorted(p.read_text() for p in (h.root / "logs" / "default").glob("*/main.log")
                      if p.read_text().startswith("logs/"))
        assert logs == ["logs/w/main.log\nfrom the produce step\n", "logs/x/main.log\nlog of x\n",
                        "logs/y/main.log\nlog of y\n"]
        data_pod_log = next(p for p in (h.root / "logs" / "default").glob("*/main.log")
                            if p.read_text().startswith("data: result"))
        assert '"logs/w/main.log"' in data_pod_log.read_text()


async def test_bad_expression_fails_the_node_naming_the_field(harness, tmp_path):
    """A transformation that does not evaluate fails the data node with argoexec's exit code and a
    message naming `data.transformation[1].expression`; the dependent step never runs."""
    store = _store(tmp_path, {"logs/x/main.log": "x\n"})
    templates = [
        {"name": "main", "steps": [[{"name": "list", "template": "list-log-files"}],
                                   [{"name": "after", "template": "after",
                                     "withParam": "{{steps.list.outputs.result}}"}]]},
        _list_logs([{"expression": "map(data, {upper(#)})"}, {"expression": "data[0] + 1"}]),
        {"name": "after", "container": {"image": "busybox:1.36", "command": ["true"]}},
    ]
    async with harness(images=ImageMap(executor_env={"TIPHYS_ARTIFACT_DIR": str(store)})) as h:
        final = await _run(h, _wf("data-bad", templates))
    assert final["status"]["phase"] == "Failed"
    (node,) = _nodes(final, "list-log-files")
    assert node["phase"] == "Failed"
    assert node["message"].startswith("main: Error (exit code 64): "), node["message"]
    assert "$.data.transformation[1].expression" in node["message"]
    assert "result" not in (node.get("outputs") or {})
    assert not _nodes(final, "after")


async def test_empty_listing_is_null_and_no_items(harness, tmp_path):
    """Nothing under the key and no transformation: Go's nil slice, `null`, which withParam takes
    as no items (Argo's json.Unmarshal): the workflow succeeds without running the loop body."""
    store = _store(tmp_path, {"elsewhere/a.log": "a\n"})
    templates = [
        {"name": "main", "steps": [[{"name": "list", "template": "list-log-files"}],
                                   [{"name": "each", "template": "each",
                                     "withParam": "{{steps.list.outputs.result}}"}]]},
        _list_logs([]),
        {"name": "each", "container": {"image": "busybox:1.36", "command": ["true"]}},
    ]
    async with harness(images=ImageMap(executor_env={"TIPHYS_ARTIFACT_DIR": str(store)})) as h:
        final = await _run(h, _wf("data-empty", templates))
    assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
    (node,) = _nodes(final, "list-log-files")
    assert node["outputs"]["result"] == "null"
    assert not [n for n in _nodes(final, "each") if n["type"] == "Pod"]



async def test_complete_s3_location_with_credentials_from_a_secret(harness, s3_server):
    """A location with endpoint, bucket and key is listed as given, on a real S3 server; the agent
    reads `accessKeySecret`/`secretKeySecret` from the files of the pod's Secret volume, which the
    Secret fills. Each listed name drives one loop child by parameter."""
    import base64
    import uuid

    from tiphys.controller.api import SECRETS
    from tiphys.executor.artifacts import Credentials, S3Client
    client = S3Client(s3_server.endpoint, secure=False,
                      credentials=Credentials(access_key=s3_server.access_key, secret_key=s3_server.secret_key))
    bucket = f"dp-{uuid.uuid4().hex[:12]}"
    client.create_bucket(bucket)
    for key in ("runs/1/main.log", "runs/2/main.log", "runs/2/extra.txt", "elsewhere/main.log"):
        client.put_bytes(bucket, key, b"x")
    location = {"endpoint": s3_server.endpoint, "insecure": True, "bucket": bucket, "key": "runs",
                "accessKeySecret": {"name": "s3-creds", "key": "accesskey"},
                "secretKeySecret": {"name": "s3-creds", "key": "secretkey"}}
    templates = [
        {"name": "main", "steps": [[{"name": "list", "template": "list"}],
                                   [{"name": "each", "template": "each", "withParam": "{{steps.list.outputs.result}}",
                                     "arguments": {"parameters": [{"name": "n", "value": "{{item}}"}]}}]]},
        {"name": "list", "data": {"source": {"artifactPaths": {"name": "runs", "s3": location}},
                                  "transformation": [{"expression": 'filter(data, {# endsWith "main.log"})'},
                                                     {"expression": 'map(data, {split(#, "/")[1]})'}]}},
        {"name": "each", "inputs": {"parameters": [{"name": "n"}]},
         "container": {"image": "busybox:1.36", "command": ["echo", "run {{inputs.parameters.n}}"]}},
    ]
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds", "namespace": "default"},
              "data": {"accesskey": base64.b64encode(s3_server.access_key.encode()).decode(),
                       "secretkey": base64.b64encode(s3_server.secret_key.encode()).decode()}}
    async with harness() as h:
        await h.api.create(SECRETS, secret, namespace="default")
        final = await _run(h, _wf("data-s3", templates))
        assert final["status"]["phase"] == "Succeeded", final["status"].get("message")
        (node,) = _nodes(final, "list")
        assert node["outputs"]["result"] == '["1","2"]'
        logs = sorted(p.read_text() for p in (h.root / "logs" / "default").glob("*/main.log")
                      if p.read_text().startswith("run "))
        assert logs == ["run 1\n", "run 2\n"]
