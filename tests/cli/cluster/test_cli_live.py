"""The cluster commands end to end: `python -m tiphys.cli` subprocesses against the real kube-apiserver,
with a controller and the simulated kubelet running in this process so workflows really progress.

Every call asserts its exit status (0 ok, 1 failure, 2 usage).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
import yaml

from tests.cli.cluster._exit_status import ok
from tiphys.core.status import ids

pytestmark = pytest.mark.cluster

STEPS = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: %(name)s-}
spec:
  entrypoint: main
  arguments: {parameters: [{name: msg, value: hi}]}
  templates:
  - name: main
    steps:
    - - {name: a, template: ok}
    - - {name: b, template: %(second)s}
  - name: ok
    container: {image: busybox, command: [echo, "{{workflow.parameters.msg}}"]}
  - name: bad
    container: {image: busybox, command: [sh, -c, "echo fail; exit 1"]}
  - name: flaky
    container: {image: busybox, command: [sh, -c, "echo flaky"]}
"""

WAITING = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: %(name)s-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: gate, template: gate}
    - - {name: after, template: ok}
  - name: gate
    # a long timed suspend: the controller keeps the node Running (and fails it on shutdown)
    suspend: {duration: "3600"}
  - name: ok
    container: {image: busybox, command: [echo, done]}
"""


def write(tmp_path, text: str, **fields: str):
    path = tmp_path / f"{fields.get('name', 'wf')}.yaml"
    path.write_text(text % fields)
    return str(path)


def as_json(tiphys, *args: str, ns: str):
    return json.loads(ok(tiphys(*args, "-o", "json", ns=ns)).stdout)


def until(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_submit_wait_list_get_of_a_succeeding_workflow(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    r = ok(tiphys("submit", write(tmp_path, STEPS, name="good", second="ok"), "-p", "msg=yo", "--wait", ns=ns))
    name = re.search(r"^(good-\w+) Succeeded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$", r.stdout, re.M).group(1)

    wf = as_json(tiphys, "get", name, ns=ns)
    assert wf["status"]["phase"] == "Succeeded"
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "msg", "value": "yo"}]
    assert yaml.safe_load(ok(tiphys("get", name, "-o", "yaml", ns=ns)).stdout)["metadata"]["name"] == name
    assert ok(tiphys("get", name, "-o", "name", ns=ns)).stdout.strip() == name

    view = ok(tiphys("get", "@latest", ns=ns)).stdout
    assert re.search(rf"^Name: +{name}$", view, re.M) and re.search(r"^Status: +Succeeded$", view, re.M)
    assert re.search(r"^STEP +TEMPLATE +PODNAME +DURATION +MESSAGE$", view, re.M)
    assert re.search(rf"^ ✔ {name} +main$", view, re.M)
    assert re.search(rf"✔ a +ok +{name}-ok-\d+ +\d+s$", view, re.M)
    wide = ok(tiphys("get", name, "-o", "wide", ns=ns)).stdout
    assert re.search(r"^STEP +TEMPLATE +PODNAME +DURATION +ARTIFACTS +MESSAGE +RESOURCESDURATION +NODENAME$", wide,
                     re.M)
    # RESOURCESDURATION as Argo prints it (the simulated pods request nothing: Argo's defaults, 0 s)
    assert re.search(rf"✔ b +ok +{name}-ok-\d+ +\d+s +0s\*\(1 cpu\),0s\*\(100Mi memory\) +{live.node_name}$",
                     wide, re.M)

    started = time.monotonic()
    listing = ok(tiphys("list", ns=ns)).stdout.splitlines()
    print(f"tiphys list, one process end to end: {time.monotonic() - started:.2f} s")
    assert re.match(r"^NAME +STATUS +AGE +DURATION +PRIORITY +MESSAGE$", listing[0])
    assert any(re.match(rf"^{name} +Succeeded +\d+[smhd] +\d+[smhd] +0$", line) for line in listing[1:])
    wide_list = ok(tiphys("list", "-o", "wide", ns=ns)).stdout
    assert re.search(rf"^{name} +Succeeded .* 0/0/2 +msg=yo$", wide_list, re.M)
    assert name in ok(tiphys("list", "--completed", "-o", "name", ns=ns)).stdout.split()
    assert name not in ok(tiphys("list", "--running", "-o", "name", ns=ns)).stdout.split()
    assert name not in ok(tiphys("list", "--status", "Failed,Error", "-o", "name", ns=ns)).stdout.split()
    assert name in [w["metadata"]["name"] for w in as_json(tiphys, "list", "-A", ns=ns)]
    assert re.search(rf"^{ns} +{name} +Succeeded", ok(tiphys("list", "-A", ns=ns)).stdout, re.M)
    ok(tiphys("wait", name, ns=ns))


def test_a_failing_workflow_makes_wait_exit_1(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    r = ok(tiphys("submit", write(tmp_path, STEPS, name="bad", second="bad"), "--wait", "-o", "name", ns=ns), 1)
    name = r.stdout.splitlines()[0]
    assert re.search(rf"^{name} Failed at ", r.stdout, re.M)
    r = ok(tiphys("wait", name, ns=ns), 1)
    assert r.stdout.startswith(f"{name} Failed at ")
    assert name in ok(tiphys("list", "--status", "Failed", "-o", "name", ns=ns)).stdout.split()
    view = ok(tiphys("get", name, "--no-utf8", ns=ns)).stdout
    assert re.search(rf"`---Failed b +bad +{name}-bad-\d+ +\d+s +", view), view
    ok(tiphys("wait", "missing-wf", ns=ns), 1)
    ok(tiphys("wait", "missing-wf", "--ignore-not-found", ns=ns))


def test_watch_follows_a_workflow_to_its_end(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    name = ok(tiphys("submit", write(tmp_path, STEPS, name="watched", second="ok"), "-o", "name",
                     ns=ns)).stdout.strip()
    r = ok(tiphys("watch", name, ns=ns))
    last = r.stdout.rsplit("Name:", 1)[1]
    assert re.search(r"^Status: +Succeeded$", last, re.M) and re.search(r"✔ b +ok", last)
    r = ok(tiphys("submit", write(tmp_path, STEPS, name="subwatch", second="ok"), "--watch", ns=ns))
    assert re.search(r"^Status: +Succeeded$", r.stdout.rsplit("Name:", 1)[1], re.M)


def test_retry_then_wait(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    live.flaky = True
    name = ok(tiphys("submit", write(tmp_path, STEPS, name="retried", second="flaky"), "--wait", "-o", "name",
                     ns=ns), 1).stdout.splitlines()[0]
    before = {n["displayName"]: n for n in as_json(tiphys, "get", name, ns=ns)["status"]["nodes"].values()}
    assert before["b"]["phase"] == "Failed" and before["a"]["phase"] == "Succeeded"
    live.flaky = False
    r = ok(tiphys("retry", name, ns=ns))
    assert f"workflow {name} retried" in r.stdout
    r = ok(tiphys("wait", name, ns=ns))
    assert r.stdout.startswith(f"{name} Succeeded at ")
    after = {n["displayName"]: n for n in as_json(tiphys, "get", name, ns=ns)["status"]["nodes"].values()}
    assert after["b"]["phase"] == "Succeeded"
    # the succeeded step was kept, not run again
    assert after["a"]["id"] == before["a"]["id"] and after["a"]["startedAt"] == before["a"]["startedAt"]
    r = ok(tiphys("retry", name, ns=ns), 1)
    assert "retry needs --restart-successful and --node-field-selector" in r.stderr

    # a Succeeded workflow: re-run the selected step only (its pod is deleted and made again)
    rest = live.cluster.rest()
    pod_b = f"{name}-flaky-{ids.hash_suffix(after['b']['name'])}"
    uid_before = rest.get(f"/api/v1/namespaces/{ns}/pods/{pod_b}")["metadata"]["uid"]
    ok(tiphys("retry", name, "--restart-successful", "--node-field-selector", "displayName=b", ns=ns))
    assert ok(tiphys("wait", name, ns=ns)).stdout.startswith(f"{name} Succeeded at ")
    uid_after = rest.get(f"/api/v1/namespaces/{ns}/pods/{pod_b}")["metadata"]["uid"]
    assert uid_after != uid_before
    final = {n["displayName"]: n for n in as_json(tiphys, "get", name, ns=ns)["status"]["nodes"].values()}
    assert final["a"]["startedAt"] == before["a"]["startedAt"] and final["b"]["phase"] == "Succeeded"


def test_resubmit_creates_a_labelled_copy(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    name = ok(tiphys("submit", write(tmp_path, STEPS, name="orig", second="ok"), "--wait", "-o", "name",
                     ns=ns)).stdout.splitlines()[0]
    r = ok(tiphys("resubmit", name, "-p", "msg=again", "--wait", "-o", "name", ns=ns))
    copy = r.stdout.splitlines()[0]
    assert copy != name and copy.startswith("orig-")
    assert re.search(rf"^{copy} Succeeded at ", r.stdout, re.M)
    wf = as_json(tiphys, "get", copy, ns=ns)
    assert wf["metadata"]["labels"]["workflows.argoproj.io/resubmitted-from-workflow"] == name
    assert wf["spec"]["arguments"]["parameters"] == [{"name": "msg", "value": "again"}]
    assert ok(tiphys("list", "--resubmitted", "-o", "name", ns=ns)).stdout.split() == [copy]
    ok(tiphys("resubmit", name, "--memoized", ns=ns), 1)


def test_suspend_resume_stop_terminate(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    gate = write(tmp_path, WAITING, name="gated")

    def phase_of(n: str) -> str:
        return as_json(tiphys, "get", n, ns=ns).get("status", {}).get("phase", "")

    # stop: a workflow waiting at a suspend node is shut down and fails
    stopped = ok(tiphys("submit", gate, "-o", "name", ns=ns)).stdout.strip()
    until(lambda: phase_of(stopped) == "Running", "the gated workflow to run")
    listing = ok(tiphys("list", "--running", ns=ns)).stdout
    assert re.search(rf"^{stopped} +Running \(Suspended\)", listing, re.M), listing
    ok(tiphys("stop", stopped, ns=ns))
    assert ok(tiphys("wait", stopped, ns=ns), 1).stdout.startswith(f"{stopped} Failed at ")
    assert re.search(rf"^{stopped} +Failed \(Terminated\)", ok(tiphys("list", ns=ns)).stdout, re.M)
    r = ok(tiphys("stop", stopped, ns=ns), 1)
    assert "cannot shutdown a completed workflow" in r.stderr
    r = ok(tiphys("suspend", stopped, ns=ns), 1)
    assert "cannot suspend completed workflows" in r.stderr

    # suspend / resume (workflow level, then the gate node), terminate
    gated = ok(tiphys("submit", gate, "-o", "name", ns=ns)).stdout.strip()
    until(lambda: phase_of(gated) == "Running", "the second gated workflow to run")
    assert f"workflow {gated} suspended" in ok(tiphys("suspend", gated, ns=ns)).stdout
    assert as_json(tiphys, "get", gated, ns=ns)["spec"]["suspend"] is True
    assert f"workflow {gated} resumed" in ok(tiphys("resume", gated, ns=ns)).stdout
    assert "suspend" not in as_json(tiphys, "get", gated, ns=ns)["spec"]
    # resume also finished the gate node (§5.12), so the workflow runs to the end
    assert ok(tiphys("wait", gated, ns=ns)).stdout.startswith(f"{gated} Succeeded at ")

    # terminate: a workflow waiting at its gate is shut down without running its exit handler
    doomed = ok(tiphys("submit", gate, "-o", "name", ns=ns)).stdout.strip()
    until(lambda: phase_of(doomed) == "Running", "the third gated workflow to run")
    assert f"workflow {doomed} terminated" in ok(tiphys("terminate", doomed, ns=ns)).stdout
    assert ok(tiphys("wait", doomed, ns=ns), 1).stdout.startswith(f"{doomed} Failed at ")
    assert as_json(tiphys, "get", doomed, ns=ns)["spec"]["shutdown"] == "Terminate"


APPROVAL = """
apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {generateName: %(name)s-}
spec:
  entrypoint: main
  templates:
  - name: main
    steps:
    - - {name: approve, template: approve}
    - - name: release
        template: echo
        arguments: {parameters: [{name: message, value: "{{steps.approve.outputs.parameters.message}}"}]}
  - name: approve
    suspend: {}
    outputs: {parameters: [{name: message, valueFrom: {supplied: {}}}]}
  - name: echo
    inputs: {parameters: [{name: message}]}
    container: {image: busybox, command: [echo, "{{inputs.parameters.message}}"]}
"""


def test_intermediate_parameters_with_node_set(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    flow = ok(tiphys("submit", write(tmp_path, APPROVAL, name="approval"), "-o", "name", ns=ns)).stdout.strip()

    def approve() -> dict | None:
        nodes = as_json(tiphys, "get", flow, ns=ns).get("status", {}).get("nodes") or {}
        return next((n for n in nodes.values() if n["displayName"] == "approve" and n["phase"] == "Running"), None)

    gate = until(approve, "the approval gate")
    assert gate["outputs"] == {"parameters": [{"name": "message", "valueFrom": {"supplied": {}}}]}
    # a plain resume has no value and no default to give: refused, nothing written
    r = ok(tiphys("resume", flow, ns=ns), 1)
    assert "raw output parameter 'message' has not been set and does not have a default value" in r.stderr
    r = ok(tiphys("node", "set", flow, "--node-field-selector", "displayName=approve",
                  "--output-parameter", "other=x", ns=ns), 1)
    assert "node is not expecting output parameter 'other'" in r.stderr
    ok(tiphys("node", "set", flow, "--node-field-selector", "displayName=approve",
              "--output-parameter", 'message="ship \\"it\\""', ns=ns))
    assert approve()["outputs"] == {"parameters": [{"name": "message", "value": 'ship "it"'}]}
    ok(tiphys("resume", flow, "--node-field-selector", "displayName=approve", ns=ns))
    assert ok(tiphys("wait", flow, "--timeout", "60", ns=ns)).stdout.startswith(f"{flow} Succeeded at ")
    nodes = as_json(tiphys, "get", flow, ns=ns)["status"]["nodes"].values()
    release = next(n for n in nodes if n["displayName"] == "release")
    assert release["inputs"]["parameters"] == [{"name": "message", "value": 'ship "it"'}]


def test_resume_of_a_workflow_submitted_suspended(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    held_file = tmp_path / "held.yaml"
    held_file.write_text((STEPS % {"name": "held", "second": "ok"}).replace("  entrypoint: main",
                                                                            "  suspend: true\n  entrypoint: main"))
    held = ok(tiphys("submit", str(held_file), "-o", "name", ns=ns)).stdout.strip()
    time.sleep(1.0)  # give the controller the chance to (wrongly) start pods
    wf = as_json(tiphys, "get", held, ns=ns)
    assert not [n for n in (wf.get("status", {}).get("nodes") or {}).values() if n["type"] == "Pod"]
    assert re.search(rf"^{held} +(Running \(Suspended\)|Pending)", ok(tiphys("list", ns=ns)).stdout, re.M)
    ok(tiphys("resume", held, ns=ns))
    assert "suspend" not in as_json(tiphys, "get", held, ns=ns)["spec"]
    # --timeout is a wait for the outcome (two steps through a real apiserver), not a speed limit:
    # 10 s was tight on a loaded machine
    assert ok(tiphys("wait", held, "--timeout", "60", ns=ns)).stdout.startswith(f"{held} Succeeded at ")


def test_submit_from_templates_and_template_commands(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    tmpl = tmp_path / "tmpl.yaml"
    tmpl.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: WorkflowTemplate
metadata: {name: greet}
spec:
  entrypoint: main
  arguments: {parameters: [{name: who, value: world}]}
  templates:
  - name: main
    container: {image: busybox, command: [echo, "{{workflow.parameters.who}}"]}
""")
    r = ok(tiphys("template", "create", str(tmpl), ns=ns))
    assert re.search(r"^Name: +greet$", r.stdout, re.M)
    ok(tiphys("template", "create", str(tmpl), ns=ns), 1)  # AlreadyExists
    assert ok(tiphys("template", "list", ns=ns)).stdout.split() == ["NAME", "greet"]
    assert json.loads(ok(tiphys("template", "get", "greet", "-o", "json", ns=ns)).stdout)["spec"]["entrypoint"] == "main"
    ok(tiphys("template", "get", "nope", ns=ns), 1)

    r = ok(tiphys("submit", "--from", "workflowtemplate/greet", "-p", "who=you", "--wait", "-o", "name", ns=ns))
    name = r.stdout.splitlines()[0]
    assert name.startswith("greet-") and re.search(rf"^{name} Succeeded at ", r.stdout, re.M)
    wf = as_json(tiphys, "get", name, ns=ns)
    assert wf["metadata"]["labels"]["workflows.argoproj.io/workflow-template"] == "greet"
    assert wf["spec"]["workflowTemplateRef"] == {"name": "greet"}
    ok(tiphys("submit", "--from", "workflowtemplate/absent", ns=ns), 1)
    ok(tiphys("submit", "--from", "nonsense", ns=ns), 2)

    ctmpl = tmp_path / "ctmpl.yaml"
    ctmpl.write_text(tmpl.read_text().replace("kind: WorkflowTemplate", "kind: ClusterWorkflowTemplate")
                     .replace("name: greet}", f"name: {ns}-cgreet}}"))
    ok(tiphys("cluster-template", "create", str(ctmpl)))
    assert f"{ns}-cgreet" in ok(tiphys("cluster-template", "list", "-o", "name")).stdout.split()
    r = ok(tiphys("submit", "--from", f"clusterworkflowtemplate/{ns}-cgreet", "--wait", "-o", "name", ns=ns))
    assert "Succeeded at" in r.stdout
    ok(tiphys("template", "create", str(ctmpl), ns=ns), 1)  # wrong kind for the group
    assert f"ClusterWorkflowTemplate '{ns}-cgreet' deleted" in ok(
        tiphys("cluster-template", "delete", f"{ns}-cgreet")).stdout

    cron = tmp_path / "cron.yaml"
    cron.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: CronWorkflow
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  workflowSpec:
    entrypoint: main
    templates:
    - name: main
      container: {image: busybox, command: [echo, night]}
""")
    ok(tiphys("cron", "create", str(cron), ns=ns))
    assert re.search(r"^nightly +\d+s +N/A +0 3 \* \* \* +false$", ok(tiphys("cron", "list", ns=ns)).stdout, re.M)
    ok(tiphys("cron", "suspend", "nightly", ns=ns))
    assert re.search(r"^Suspended: +true$", ok(tiphys("cron", "get", "nightly", ns=ns)).stdout, re.M)
    ok(tiphys("cron", "resume", "nightly", ns=ns))
    r = ok(tiphys("submit", "--from", "cronwf/nightly", "--wait", "-o", "name", ns=ns))
    assert as_json(tiphys, "get", r.stdout.splitlines()[0], ns=ns)["metadata"]["labels"][
        "workflows.argoproj.io/cron-workflow"] == "nightly"
    assert "CronWorkflow 'nightly' deleted" in ok(tiphys("cron", "delete", "nightly", ns=ns)).stdout
    ok(tiphys("cron", "delete", "nightly", ns=ns), 1)
    assert "WorkflowTemplate 'greet' deleted" in ok(tiphys("template", "delete", "--all", ns=ns)).stdout
    assert ok(tiphys("template", "list", ns=ns)).stdout.strip() == "No WorkflowTemplates found"


def test_submit_log_and_logs_follow_of_live_pods(live, tiphys, tmp_path) -> None:
    ns = live.namespace
    r = ok(tiphys("submit", write(tmp_path, STEPS, name="logged", second="ok"), "--wait", "--log", "-o", "name",
                  ns=ns))
    name = r.stdout.splitlines()[0]
    wf = as_json(tiphys, "get", name, ns=ns)
    pods = sorted(f"{name}-ok-{ids.hash_suffix(n['name'])}" for n in wf["status"]["nodes"].values()
                  if n["type"] == "Pod")
    assert len(pods) == 2
    # each pod's log, fetched through the apiserver from the node's (fake) kubelet, prefixed by the pod
    assert sorted(line for line in r.stdout.splitlines() if line.startswith(f"{name}-ok-")) == \
        [f"{p}: log of {p}/main" for p in pods]
    followed = ok(tiphys("logs", name, "-f", ns=ns)).stdout.splitlines()
    assert sorted(followed) == [f"{p}: log of {p}/main" for p in pods]
    assert ok(tiphys("logs", name, "a", "-c", "wait", ns=ns)).stdout.startswith(f"{name}-ok-")


def test_context_namespace_and_kubectl_plugin(live, cluster, tiphys, tmp_path) -> None:
    ns = live.namespace
    name = ok(tiphys("submit", write(tmp_path, STEPS, name="ctx", second="ok"), "--wait", "-o", "name",
                     ns=ns)).stdout.splitlines()[0]
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    base_ctx = config["contexts"][0]
    config["contexts"].append({"name": "in-live", "context": {**base_ctx["context"], "namespace": ns}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    # no -n: the context's namespace is used
    assert name in ok(tiphys("list", "--context", "in-live", "-o", "name", kubeconfig=str(path))).stdout.split()
    # kubectl-style: the global flags before the command
    assert ok(tiphys("-n", ns, "get", name, "-o", "name")).stdout.strip() == name
    r = ok(tiphys("list", "--context", "no-such-context", kubeconfig=str(path)), 1)
    assert "no-such-context" in r.stderr
    plugin = shutil.which("kubectl-tiphys")
    if plugin is None:
        pytest.skip("kubectl-tiphys is not installed (pip install -e . provides it)")
    r = subprocess.run([plugin, "get", name, "-o", "name", "--kubeconfig", str(path), "--context", "in-live"],
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout.strip()) == (0, name), r.stderr
