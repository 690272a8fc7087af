"""Workflow pod construction: Argo's legacy layout, golden pods and targeted rules."""
from __future__ import annotations

import json

import pytest
import yaml
from hypothesis import given, settings as hsettings, strategies as st

from tests.conftest import argo_examples
from tiphys.core.plan._poderrors import (DeadlineExceeded, InvalidPodSpecPatch, MissingEntrypoint, PodSpecError,
                                         VolumeNotFound)
from tiphys.core.plan._podpatch import parse_patch, strategic_merge
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import ZERO_DEADLINE, build_pod, format_go_duration, offload_oversize

META = WorkflowMeta(name="wf-abc", namespace="argo", uid="uid-1")
SETTINGS = PodSettings(executor_image="exec:1", executor_command=("tx",), wrapper_path="/var/run/argo/argoexec")
EXEC = "exec:1"
RESTRICTED = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
              "runAsNonRoot": True, "runAsUser": 8737, "seccompProfile": {"type": "RuntimeDefault"}}
VAR_RUN = {"name": "var-run-argo", "mountPath": "/var/run/argo"}
TMP = {"name": "tmp-dir-argo", "mountPath": "/tmp"}


def build(template, spec=None, **kw):
    opts = dict(meta=META, spec=spec or {}, node_id="wf-abc-123", node_name="wf-abc[0].a", pod_name="wf-abc-t-123",
                settings=SETTINGS)
    opts.update(kw)
    return build_pod(template, **opts)


def ctr(pod, name):
    found = [c for c in pod["spec"]["containers"] + pod["spec"]["initContainers"] if c["name"] == name]
    assert len(found) == 1, name
    return found[0]


def env(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def exec_env(name, template_json):
    return [
        {"name": "ARGO_POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "ARGO_POD_UID", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.uid"}}},
        {"name": "ARGO_NAMESPACE",
         "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
        {"name": "ARGO_WORKFLOW_NAME", "value": "wf-abc"},
        {"name": "ARGO_WORKFLOW_UID", "value": "uid-1"},
        {"name": "ARGO_CONTAINER_NAME", "value": name},
        {"name": "ARGO_TEMPLATE", "value": template_json},
        *tail_env(),
    ]


def tail_env(workflow_name=False):
    return [
        {"name": "ARGO_NODE_ID", "value": "wf-abc-123"},
        {"name": "ARGO_INCLUDE_SCRIPT_OUTPUT", "value": "false"},
        {"name": "ARGO_DEADLINE", "value": ZERO_DEADLINE},
        *([{"name": "ARGO_WORKFLOW_NAME", "value": "wf-abc"}] if workflow_name else []),
        {"name": "ARGO_PROGRESS_FILE", "value": "/var/run/argo/progress"},
        {"name": "ARGO_PROGRESS_PATCH_TICK_DURATION", "value": "1m0s"},
        {"name": "ARGO_PROGRESS_FILE_TICK_DURATION", "value": "3s"},
    ]


CONTAINER_TMPL = {
    "name": "t",
    "inputs": {"parameters": [{"name": "msg", "value": "secret-ish"}]},
    "container": {"image": "alpine:3", "command": ["sh", "-c"], "args": ["echo hi"],
                  "env": [{"name": "USER_VAR", "value": "1"}]},
}


def test_container_template_golden_pod():
    """A plain container template gives exactly Argo's legacy pod (names, order, env, mounts)."""
    pod = build(CONTAINER_TMPL)
    tj = json.dumps({"name": "t", "inputs": {}, "container": CONTAINER_TMPL["container"]}, separators=(",", ":"))
    expected = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "wf-abc-t-123", "namespace": "argo",
            "labels": {"workflows.argoproj.io/workflow": "wf-abc", "workflows.argoproj.io/completed": "false"},
            "annotations": {"workflows.argoproj.io/node-name": "wf-abc[0].a",
                            "workflows.argoproj.io/node-id": "wf-abc-123",
                            "kubectl.kubernetes.io/default-container": "main"},
            "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf-abc",
                                 "uid": "uid-1", "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "restartPolicy": "Never",
            "volumes": [{"name": "var-run-argo", "emptyDir": {}}, {"name": "tmp-dir-argo", "emptyDir": {}}],
            "initContainers": [{
                "name": "init", "image": EXEC, "command": ["tx", "init"], "env": exec_env("init", tj),
                "securityContext": RESTRICTED, "volumeMounts": [TMP, VAR_RUN],
            }],
            "containers": [
                {"name": "wait", "image": EXEC, "command": ["tx", "wait"], "env": exec_env("wait", tj),
                 "securityContext": RESTRICTED, "volumeMounts": [TMP, VAR_RUN]},
                {"name": "main", "image": "alpine:3",
                 "command": ["/var/run/argo/argoexec", "emissary", "--", "sh", "-c"], "args": ["echo hi"],
                 "env": [{"name": "USER_VAR", "value": "1"}, {"name": "ARGO_CONTAINER_NAME", "value": "main"},
                         *tail_env(workflow_name=True)],
                 "volumeMounts": [VAR_RUN]},
            ],
        },
    }
    assert pod == expected
    assert list(pod["spec"]) == ["restartPolicy", "volumes", "containers", "initContainers"]


def test_input_is_not_modified():
    """The caller's template and spec are read, never changed."""
    tmpl = json.loads(json.dumps(CONTAINER_TMPL))
    spec = {"volumes": [{"name": "v", "emptyDir": {}}], "podSpecPatch": "{}"}
    before = json.dumps([tmpl, spec])
    build(tmpl, spec)
    assert json.dumps([tmpl, spec]) == before


def test_argo_template_drops_only_input_parameters():
    """ARGO_TEMPLATE keeps input artifacts and everything else, but not the (resolved) parameters."""
    tmpl = {**CONTAINER_TMPL, "inputs": {"parameters": [{"name": "p", "value": "x"}],
                                         "artifacts": [{"name": "a", "path": "/in/a", "raw": {"data": "d"}}]}}
    value = json.loads(env(ctr(build(tmpl), "init"))["ARGO_TEMPLATE"])
    assert value["inputs"] == {"artifacts": [{"name": "a", "path": "/in/a", "raw": {"data": "d"}}]}
    assert value["container"] == CONTAINER_TMPL["container"]
    assert "ARGO_TEMPLATE" not in env(ctr(build(tmpl), "main"))


def test_script_template():
    """Scripts: source staged by init, `/argo/staging/script` appended to args, staging mounted in init+main+wait."""
    tmpl = {"name": "s", "script": {"image": "python:3", "command": ["python"], "args": ["-u"],
                                    "source": "print('hi')\n"}}
    pod = build(tmpl, include_script_output=True)
    main = ctr(pod, "main")
    assert main["command"] == ["/var/run/argo/argoexec", "emissary", "--", "python"]
    assert main["args"] == ["-u", "/argo/staging/script"]
    assert "source" not in main
    staging = {"name": "argo-staging", "mountPath": "/argo/staging"}
    assert main["volumeMounts"] == [staging, VAR_RUN]
    assert ctr(pod, "init")["volumeMounts"] == [staging, TMP, VAR_RUN]
    assert ctr(pod, "wait")["volumeMounts"] == [{"name": "argo-staging", "mountPath": "/mainctrfs/argo/staging"},
                                                 TMP, VAR_RUN]
    assert {"name": "argo-staging", "emptyDir": {}} in pod["spec"]["volumes"]
    assert json.loads(env(ctr(pod, "init"))["ARGO_TEMPLATE"])["script"]["source"] == "print('hi')\n"
    assert env(main)["ARGO_INCLUDE_SCRIPT_OUTPUT"] == "true"


def test_script_without_source_runs_as_is():
    pod = build({"name": "s", "script": {"image": "python:3", "command": ["python"], "source": ""}})
    assert "args" not in ctr(pod, "main")


def test_resource_template_golden_containers():
    """resource: no wait; main is the executor running `resource <action>` under emissary, locked down."""
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n"
    tmpl = {"name": "r", "resource": {"action": "create", "manifest": manifest, "setOwnerReference": True}}
    pod = build(tmpl)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main"]
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["init"]
    main = ctr(pod, "main")
    assert main["image"] == EXEC
    assert main["command"] == ["/var/run/argo/argoexec", "emissary", "--", "tx", "resource", "create"]
    assert main["securityContext"] == RESTRICTED
    assert main["volumeMounts"] == [TMP, VAR_RUN]
    sent = json.loads(env(main)["ARGO_TEMPLATE"])
    owned = yaml.safe_load(sent["resource"]["manifest"])
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow", "name": "wf-abc", "uid": "uid-1",
         "controller": True, "blockOwnerDeletion": True}]
    assert owned["metadata"]["name"] == "cm"


def test_resource_template_gets_wait_when_logs_are_archived():
    tmpl = {"name": "r", "resource": {"action": "get", "manifest": "kind: ConfigMap"}}
    assert [c["name"] for c in build(tmpl, {"archiveLogs": True})["spec"]["containers"]] == ["wait", "main"]
    no = {**tmpl, "archiveLocation": {"archiveLogs": False}}
    assert [c["name"] for c in build(no, {"archiveLogs": True})["spec"]["containers"]] == ["main"]
    data = {"name": "d", "data": {"source": {}}, "archiveLocation": {"archiveLogs": True}}
    assert [c["name"] for c in build(data)["spec"]["containers"]] == ["main"]


def test_data_template():
    tmpl = {"name": "d", "data": {"source": {"artifactPaths": {"name": "a", "s3": {"bucket": "b"}}},
                                  "transformation": [{"expression": "filter(data, {# endsWith '.py'})"}]}}
    pod = build(tmpl)
    main = ctr(pod, "main")
    assert [c["name"] for c in pod["spec"]["containers"]] == ["main"]
    assert main["command"][:6] == ["/var/run/argo/argoexec", "emissary", "--", "tx", "data",
                                   json.dumps(tmpl["data"], separators=(",", ":"))]


def test_container_set_with_pod_spec_patch():
    """containerSet: every member wrapped under its own name, shared mounts added, default container = main."""
    tmpl = {"name": "cs", "volumes": [{"name": "ws", "emptyDir": {}}],
            "containerSet": {
                "volumeMounts": [{"name": "ws", "mountPath": "/ws"}],
                "containers": [
                    {"name": "a", "image": "alpine", "command": ["sh", "-c", "echo a"]},
                    {"name": "main", "image": "alpine", "command": ["sh", "-c", "echo b"], "dependencies": ["a"]},
                ]},
            "podSpecPatch": "containers:\n- name: a\n  resources:\n    limits: {cpu: 200m}\n"}
    pod = build(tmpl)
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names == ["wait", "a", "main"]
    a, main = ctr(pod, "a"), ctr(pod, "main")
    assert "dependencies" not in main
    assert a["command"] == ["/var/run/argo/argoexec", "emissary", "--", "sh", "-c", "echo a"]
    assert a["resources"] == {"limits": {"cpu": "200m"}}
    assert a["volumeMounts"] == [{"name": "ws", "mountPath": "/ws"}, VAR_RUN]
    assert env(a)["ARGO_CONTAINER_NAME"] == "a"
    assert pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "main"
    # only the container named main is mirrored into wait (Argo addOutputArtifactsVolumes)
    assert ctr(pod, "wait")["volumeMounts"] == [{"name": "ws", "mountPath": "/mainctrfs/ws"}, TMP, VAR_RUN]


def test_container_set_without_main_defaults_to_last():
    tmpl = {"name": "cs", "containerSet": {"containers": [{"name": "x", "image": "i", "command": ["a"]},
                                                          {"name": "y", "image": "i", "command": ["b"]}]}}
    assert build(tmpl)["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"] == "y"


def test_volumes_workflow_level_claims_and_missing():
    """Template volumes always; workflow volumes and claim templates only when mounted; unknown mount → error."""
    spec = {"volumes": [{"name": "used", "configMap": {"name": "c"}}, {"name": "unused", "emptyDir": {}}],
            "volumeClaimTemplates": [{"metadata": {"name": "work"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}
    tmpl = {"name": "t", "volumes": [{"name": "own", "emptyDir": {}}],
            "container": {"image": "i", "command": ["c"], "volumeMounts": [
                {"name": "used", "mountPath": "/u"}, {"name": "work", "mountPath": "/w", "readOnly": True}]},
            "sidecars": [{"name": "side", "image": "i", "command": ["s"], "mirrorVolumeMounts": True}]}
    pod = build(tmpl, spec)
    assert pod["spec"]["volumes"] == [
        {"name": "var-run-argo", "emptyDir": {}}, {"name": "tmp-dir-argo", "emptyDir": {}},
        {"name": "own", "emptyDir": {}}, {"name": "used", "configMap": {"name": "c"}},
        {"name": "work", "persistentVolumeClaim": {"claimName": "wf-abc-work"}}]
    assert ctr(pod, "wait")["volumeMounts"][:2] == [{"name": "used", "mountPath": "/mainctrfs/u"},
                                                     {"name": "work", "mountPath": "/mainctrfs/w"}]
    assert ctr(pod, "side")["volumeMounts"] == [{"name": "used", "mountPath": "/u"},
                                                {"name": "work", "mountPath": "/w", "readOnly": True}, VAR_RUN]
    bad = {"name": "t", "container": {"image": "i", "command": ["c"], "volumeMounts": [{"name": "nope",
                                                                                        "mountPath": "/n"}]}}
    with pytest.raises(VolumeNotFound, match="volume 'nope' not found in workflow spec") as info:
        build(bad, spec)
    assert info.value.where == "template t.main"


def test_input_artifacts():
    """input-artifacts: init gets the dir and main's mounts under /mainctrfs; main one subPath per artifact."""
    tmpl = {"name": "t",
            "inputs": {"artifacts": [
                {"name": "src", "path": "/src", "git": {"repo": "r"}},
                {"name": "opt", "path": "/opt/x", "optional": True},
                {"name": "onvol", "path": "/data/in/file", "s3": {"key": "k"}}]},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "container": {"image": "i", "command": ["c"], "volumeMounts": [{"name": "data", "mountPath": "/data"}]}}
    pod = build(tmpl)
    assert ctr(pod, "main")["volumeMounts"] == [{"name": "data", "mountPath": "/data"},
                                                {"name": "input-artifacts", "mountPath": "/src", "subPath": "src"},
                                                VAR_RUN]
    assert ctr(pod, "init")["volumeMounts"] == [{"name": "input-artifacts", "mountPath": "/argo/inputs/artifacts"},
                                                {"name": "data", "mountPath": "/mainctrfs/data"}, TMP, VAR_RUN]
    bad = {**tmpl, "inputs": {"artifacts": [{"name": "x", "path": "/tmp/safe/../../etc", "raw": {"data": ""}}]}}
    with pytest.raises(PodSpecError, match="error in inputs.artifacts.x: x: Artifact path '/tmp/safe/../../etc' "
                                           "resolves to '/etc' which is outside of '/tmp/safe'"):
        build(bad)
    fine = {**tmpl, "inputs": {"artifacts": [{"name": "y", "path": "/tmp/a/../a/b", "raw": {"data": ""}}]}}
    assert {"name": "input-artifacts", "mountPath": "/tmp/a/b", "subPath": "y"} in ctr(build(fine), "main")["volumeMounts"]


def test_metadata_labels_annotations_and_pod_gc():
    spec = {"podMetadata": {"labels": {"team": "a", "workflows.argoproj.io/workflow": "hijack"},
                            "annotations": {"note": "wf"}},
            "podGC": {"strategy": "OnPodSuccess", "deleteDelayDuration": "90s"}}
    tmpl = {**CONTAINER_TMPL, "metadata": {"labels": {"team": "b"}, "annotations": {"note": "t", "x": "1"}}}
    pod = build(tmpl, spec, on_exit=True)
    md = pod["metadata"]
    assert md["labels"] == {"workflows.argoproj.io/workflow": "wf-abc", "workflows.argoproj.io/completed": "false",
                            "workflows.argoproj.io/on-exit": "true", "team": "b"}
    assert md["annotations"]["note"] == "t" and md["annotations"]["x"] == "1"
    assert md["annotations"]["workflows.argoproj.io/pod-gc-strategy"] == "OnPodSuccess/1m30s"
    pod = build(CONTAINER_TMPL, {"podGC": {"strategy": "OnPodCompletion"}},
                meta=WorkflowMeta(name="wf-abc", namespace="argo", uid="uid-1", instance_id="i1"))
    assert pod["metadata"]["annotations"]["workflows.argoproj.io/pod-gc-strategy"] == "OnPodCompletion/5s"
    assert pod["metadata"]["labels"]["workflows.argoproj.io/controller-instanceid"] == "i1"
    assert env(ctr(pod, "wait"))["ARGO_INSTANCE_ID"] == "i1"


def test_scheduling_template_overrides_workflow():
    spec = {"nodeSelector": {"a": "wf"}, "tolerations": [{"key": "wf"}], "schedulerName": "wf-sched",
            "podPriorityClassName": "low", "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["w"]}],
            "serviceAccountName": "wf-sa", "imagePullSecrets": [{"name": "reg"}], "hostNetwork": True,
            "dnsPolicy": "None", "dnsConfig": {"nameservers": ["8.8.8.8"]}, "affinity": {"x": 1}}
    tmpl = {**CONTAINER_TMPL, "nodeSelector": {"a": "t"}, "priorityClassName": "high", "serviceAccountName": "t-sa",
            "hostAliases": [{"ip": "2.2.2.2", "hostnames": ["t"]}]}
    s = build(tmpl, spec)["spec"]
    assert s["nodeSelector"] == {"a": "t"} and s["tolerations"] == [{"key": "wf"}] and s["affinity"] == {"x": 1}
    assert s["schedulerName"] == "wf-sched" and s["priorityClassName"] == "high"
    assert s["serviceAccountName"] == "t-sa" and s["imagePullSecrets"] == [{"name": "reg"}]
    assert s["hostAliases"] == [{"ip": "1.1.1.1", "hostnames": ["w"]}, {"ip": "2.2.2.2", "hostnames": ["t"]}]
    assert s["hostNetwork"] is True and s["dnsPolicy"] == "None" and s["dnsConfig"] == {"nameservers": ["8.8.8.8"]}
    boundary = {"tolerations": [{"key": "boundary"}]}
    assert build(CONTAINER_TMPL, spec, boundary_template=boundary)["spec"]["tolerations"] == [{"key": "boundary"}]


def test_retry_anti_affinity():
    spec = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}}}
    s = build(CONTAINER_TMPL, spec, avoid_hosts=["n1", "n2"])["spec"]
    exprs = s["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"]
    assert exprs[1] == {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["n1", "n2"]}
    assert spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"][0]["matchExpressions"] == [{"key": "zone", "operator": "In", "values": ["a"]}]


def test_security_contexts():
    """Executor containers restricted by default; a pod context choosing the user wins; the user's main untouched."""
    tmpl = {**CONTAINER_TMPL, "securityContext": {"runAsUser": 0, "runAsNonRoot": False}}
    pod = build(tmpl)
    assert pod["spec"]["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False}
    wait_sc = ctr(pod, "wait")["securityContext"]
    assert "runAsUser" not in wait_sc and "runAsNonRoot" not in wait_sc
    assert wait_sc["capabilities"] == {"drop": ["ALL"]} and wait_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "securityContext" not in ctr(pod, "main")
    pod = build(CONTAINER_TMPL, {"securityContext": {"seccompProfile": {"type": "Localhost"}}})
    assert "seccompProfile" not in ctr(pod, "init")["securityContext"]
    custom = PodSettings(executor_image=EXEC, executor_command=("tx",), executor_security_context={"privileged": True})
    assert ctr(build(CONTAINER_TMPL, settings=custom), "init")["securityContext"] == {"privileged": True}


def test_pod_spec_patch_workflow_then_template_json_or_yaml():
    spec = {"podSpecPatch": '{"containers":[{"name":"main","resources":{"limits":{"memory":"1Gi"}}}],'
                            '"tolerations":[{"key":"wf"}]}'}
    tmpl = {**CONTAINER_TMPL,
            "podSpecPatch": "containers:\n- name: main\n  command: [bash, -c]\n  env:\n  - {name: USER_VAR, value: '2'}\n"
                            "tolerations:\n- key: t\n"}
    pod = build(tmpl, spec)
    main = ctr(pod, "main")
    assert main["resources"] == {"limits": {"memory": "1Gi"}}
    assert main["command"] == ["/var/run/argo/argoexec", "emissary", "--", "bash", "-c"]  # patched, then wrapped
    assert env(main)["USER_VAR"] == "2"
    assert pod["spec"]["tolerations"] == [{"key": "t"}]  # no merge key: replaced
    with pytest.raises(InvalidPodSpecPatch) as info:
        build({**CONTAINER_TMPL, "podSpecPatch": "- a\n- b\n"})
    assert info.value.where == "template t.podSpecPatch"


def test_strategic_merge_rules():
    orig = {"containers": [{"name": "a", "image": "x", "env": [{"name": "K", "value": "1"}]}, {"name": "b"}],
            "volumes": [{"name": "v", "emptyDir": {}}], "nodeSelector": {"k": "v", "drop": "me"}}
    patch = {"containers": [{"name": "b", "$patch": "delete"}, {"name": "c", "image": "y"},
                            {"name": "a", "env": [{"name": "J", "value": "2"}]}],
             "volumes": [{"name": "v", "emptyDir": None, "secret": {"secretName": "s"}}],
             "nodeSelector": {"drop": None, "new": "n"}}
    out = strategic_merge(orig, patch)
    assert out == {"containers": [{"name": "a", "image": "x", "env": [{"name": "K", "value": "1"},
                                                                      {"name": "J", "value": "2"}]},
                                  {"name": "c", "image": "y"}],
                   "volumes": [{"name": "v", "secret": {"secretName": "s"}}], "nodeSelector": {"k": "v", "new": "n"}}
    assert strategic_merge(orig, {"nodeSelector": {"$patch": "replace", "only": "1"}})["nodeSelector"] == {"only": "1"}
    assert strategic_merge(orig, {"volumes": [{"$patch": "replace"}, {"name": "w"}]})["volumes"] == [{"name": "w"}]
    assert orig["containers"][1] == {"name": "b"}
    assert parse_patch("", where="x") == {}
    with pytest.raises(InvalidPodSpecPatch, match="has no name"):
        parse_patch('{"containers": [{"image": "x"}]}', where="x")


def test_deadlines():
    """activeDeadlineSeconds = min(template, seconds left); too late raises; ARGO_DEADLINE carries the time."""
    tmpl = {**CONTAINER_TMPL, "activeDeadlineSeconds": "300"}
    now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    pod = build(tmpl, deadline="2023-11-14T22:15:20Z", now=now)
    assert pod["spec"]["activeDeadlineSeconds"] == 120
    assert env(ctr(pod, "main"))["ARGO_DEADLINE"] == "2023-11-14T22:15:20Z"
    assert build(tmpl, deadline="2023-11-15T22:15:20Z", now=now)["spec"]["activeDeadlineSeconds"] == 300
    assert build(tmpl)["spec"]["activeDeadlineSeconds"] == 300
    assert "activeDeadlineSeconds" not in build(CONTAINER_TMPL)["spec"]
    with pytest.raises(DeadlineExceeded, match=r"wf-abc\[0\].a exceeded its deadline"):
        build(tmpl, deadline="2023-11-14T22:13:20Z", now=now + 0.5)
    with pytest.raises(PodSpecError, match="activeDeadlineSeconds"):
        build({**CONTAINER_TMPL, "activeDeadlineSeconds": "soon"})


def test_missing_command_uses_image_index():
    tmpl = {"name": "t", "container": {"image": "example.com/tool:1", "args": ["echo", "x"]}}
    with pytest.raises(MissingEntrypoint, match="example.com/tool:1"):
        build(tmpl)
    settings = PodSettings(executor_image=EXEC, executor_command=("tx",),
                           images={"example.com/tool:1": {"entrypoint": ["/tool"], "cmd": ["echo"]}})
    main = ctr(build(tmpl, settings=settings), "main")
    assert main["command"] == ["/var/run/argo/argoexec", "emissary", "--", "/tool"]
    assert main["args"] == ["echo", "x"]
    no_args = {"name": "t", "container": {"image": "example.com/tool:1"}}
    assert ctr(build(no_args, settings=settings), "main")["args"] == ["echo"]


def test_service_account_and_executor_token():
    tmpl = {**CONTAINER_TMPL, "automountServiceAccountToken": False}
    with pytest.raises(PodSpecError, match="must not be empty"):
        build(tmpl)
    tmpl["executor"] = {"serviceAccountName": "exec-sa"}
    named = build(tmpl)  # the Secret Argo's docs have users create since Kubernetes 1.24
    assert {"name": "exec-sa-token", "secret": {"secretName": "exec-sa.service-account-token"}} in named["spec"]["volumes"]
    pod = build(tmpl, executor_token_secret="exec-sa-token-xyz")
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert {"name": "exec-sa-token", "secret": {"secretName": "exec-sa-token-xyz"}} in pod["spec"]["volumes"]
    mount = {"name": "exec-sa-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": True}
    assert mount in ctr(pod, "wait")["volumeMounts"] and mount not in ctr(pod, "main")["volumeMounts"]


def test_user_init_containers_and_sidecars_order():
    tmpl = {**CONTAINER_TMPL, "initContainers": [{"name": "prep", "image": "i", "command": ["p"]}],
            "sidecars": [{"name": "db", "image": "pg", "command": ["postgres"]}],
            "podSpecPatch": "terminationGracePeriodSeconds: 10"}
    pod = build(tmpl)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["init", "prep"]
    assert [c["name"] for c in pod["spec"]["containers"]] == ["wait", "main", "db"]
    assert ctr(pod, "prep")["command"] == ["p"]  # user init containers are not wrapped
    assert ctr(pod, "prep")["volumeMounts"] == [VAR_RUN]
    assert ctr(pod, "db")["command"] == ["/var/run/argo/argoexec", "emissary", "--", "postgres"]
    assert env(ctr(pod, "db"))["ARGO_TERMINATION_GRACE_PERIOD_SECONDS"] == "10"
    assert env(ctr(pod, "wait"))["ARGO_SIDECAR_NAMES"] == "db"
    assert "ARGO_SIDECAR_NAMES" not in env(ctr(build(CONTAINER_TMPL), "wait"))


def test_bad_templates_are_typed_errors():
    with pytest.raises(PodSpecError, match="exactly one of"):
        build({"name": "x", "steps": []})
    with pytest.raises(PodSpecError, match="found container, script"):
        build({"name": "x", "container": {}, "script": {}})
    with pytest.raises(PodSpecError, match="not JSON-shaped"):
        build({"name": "x", "container": {"image": "i", "command": ["c"], "env": [object()]}})
    with pytest.raises(PodSpecError, match="resource.action"):
        build({"name": "x", "resource": {"manifest": "a: b"}})


def test_offload_small_pod_untouched():
    pod = build(CONTAINER_TMPL)
    assert offload_oversize(pod) == (pod, None)


def test_offload_oversize_template_and_args():
    """> 128 KiB: ARGO_TEMPLATE becomes `offloaded`, main's args move to a file; a ConfigMap like the pod holds both."""
    big_source = "x" * 140_000
    tmpl = {"name": "s", "script": {"image": "python:3", "command": ["python"], "source": big_source,
                                    "args": ["a" * 140_000]}}
    pod = build(tmpl)
    out, cm = offload_oversize(pod)
    assert json.loads(cm["data"]["ARGO_TEMPLATE"])["script"]["source"] == big_source
    assert json.loads(cm["data"]["ARGO_CONTAINER_ARGS_FILE"]) == ["a" * 140_000, "/argo/staging/script"]
    assert cm["metadata"]["name"] == "wf-abc-t-123" and cm["metadata"]["labels"] == pod["metadata"]["labels"]
    assert cm["metadata"]["ownerReferences"][0]["kind"] == "Workflow"
    assert {"name": "argo-env-config", "configMap": {"name": "wf-abc-t-123"}} in out["spec"]["volumes"]
    for c in out["spec"]["containers"] + out["spec"]["initContainers"]:
        assert {"name": "argo-env-config", "mountPath": "/argo/config"} in c["volumeMounts"]
        assert env(c).get("ARGO_TEMPLATE", "offloaded") == "offloaded"
    main = ctr(out, "main")
    assert "args" not in main
    assert env(main)["ARGO_CONTAINER_ARGS_FILE"] == "/argo/config/ARGO_CONTAINER_ARGS_FILE"
    assert ctr(pod, "main")["args"][0] == "a" * 140_000  # the input pod is not modified
    _, only_template = offload_oversize(build({**tmpl, "script": {**tmpl["script"], "args": []}}))
    assert set(only_template["data"]) == {"ARGO_TEMPLATE"}


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (5, "5s"), (90, "1m30s"), (3600, "1h0m0s"),
                                               (1.5, "1.5s"), (0.25, "250ms"), (3725, "1h2m5s")])
def test_go_duration_format(seconds, text):
    assert format_go_duration(seconds) == text


EXAMPLES = argo_examples()


def _pod_templates():
    out = []
    for path in EXAMPLES:
        for doc in yaml.safe_load_all(path.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in ("Workflow", "WorkflowTemplate"):
                continue
            spec = doc.get("spec") or {}
            for t in spec.get("templates") or ():
                if any(k in t for k in ("container", "script", "resource", "data", "containerSet")):
                    out.append(pytest.param(spec, t, id=f"{path.name}:{t.get('name')}"))
    return out


@pytest.mark.skipif(not EXAMPLES, reason="Argo examples not found at ../shared/argo/examples")
@pytest.mark.parametrize(("spec", "template"), _pod_templates())
def test_example_templates_build_valid_layout(spec, template):
    """Every pod template of Argo's examples builds a pod with the layout invariants (or a typed error)."""
    try:
        pod = build(template, spec)
    except (MissingEntrypoint, VolumeNotFound):
        return  # image index / volumes resolved by the shell; the error itself is what we check here
    except InvalidPodSpecPatch:
        assert "{{" in str(template.get("podSpecPatch")), "only an unsubstituted patch may fail to parse"
        return
    s = pod["spec"]
    names = [c["name"] for c in s["containers"]]
    assert s["initContainers"][0]["name"] == "init"
    archived = (template.get("archiveLocation") or {}).get("archiveLogs", spec.get("archiveLogs"))
    no_wait = "data" in template or ("resource" in template and not archived)
    assert names.count("wait") == (0 if no_wait else 1)
    vol_names = [v["name"] for v in s["volumes"]]
    assert len(vol_names) == len(set(vol_names))
    for c in s["containers"] + s["initContainers"]:
        assert VAR_RUN in c["volumeMounts"], c["name"]
        assert all(m["name"] in vol_names for m in c["volumeMounts"]), c["name"]
        assert env(c)["ARGO_CONTAINER_NAME"] == c["name"]
        if c["name"] != "wait" and c in s["containers"]:
            assert c["command"][:3] == ["/var/run/argo/argoexec", "emissary", "--"]
    json.dumps(pod)  # JSON-compatible


# ---- strategic merge properties ------------------------------------------------------------------------------

_scalar = st.one_of(st.integers(-5, 5), st.text("abc", max_size=3), st.booleans())
_names = st.sampled_from(["a", "b", "c", "main", "wait"])
_ctr = st.fixed_dictionaries({"name": _names}, optional={
    "image": _scalar, "args": st.lists(_scalar, max_size=3),
    "env": st.lists(st.fixed_dictionaries({"name": _names, "value": _scalar}), max_size=3,
                    unique_by=lambda e: e["name"])})
_spec = st.fixed_dictionaries({}, optional={
    "containers": st.lists(_ctr, max_size=4, unique_by=lambda c: c["name"]),
    "nodeSelector": st.dictionaries(st.text("xyz", min_size=1, max_size=2), _scalar, max_size=3),
    "tolerations": st.lists(st.dictionaries(st.just("key"), _scalar), max_size=2)})


@hsettings(max_examples=200, deadline=None)
@given(_spec, _spec)
def test_strategic_merge_is_idempotent_and_keeps_keyed_items(orig, patch):
    """Applying a patch twice equals applying it once; keyed items are never duplicated or lost."""
    once = strategic_merge(orig, patch)
    assert strategic_merge(once, patch) == once
    assert strategic_merge(orig, {}) == orig
    names = [c["name"] for c in once.get("containers", [])]
    assert len(names) == len(set(names))
    expected = {c["name"] for c in orig.get("containers", [])} | {c["name"] for c in patch.get("containers", [])}
    assert set(names) == expected
    for c in patch.get("containers", []):
        merged = next(m for m in once["containers"] if m["name"] == c["name"])
        assert all(merged[k] == v for k, v in c.items() if k != "env")
