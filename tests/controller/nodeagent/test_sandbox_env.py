"""Mount plans, path rewriting, $(VAR) expansion, container env and status rendering (no processes)."""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from tiphys.controller.api import CONFIG_MAPS, SECRETS, EmbeddedApi
from tiphys.controller.nodeagent import ContainerConfigError, Isolation, Mount, NodeAgentError
from tiphys.controller.nodeagent.podenv import SourceCache, container_env, parse_quantity
from tiphys.controller.nodeagent.sandbox import ENTER_SCRIPT, container_mounts, expand_vars, launch_spec
from tiphys.controller.nodeagent.status import ContainerState, PodConditions, container_status


@pytest.mark.parametrize("text,expected", [
    pytest.param("$(A)-$(B)", "1-two", id="defined"),
    pytest.param("$(MISSING)", "$(MISSING)", id="undefined-kept"),
    pytest.param("$$(A)", "$(A)", id="escaped"),
    pytest.param("$$$$", "$$", id="double-dollar"),
    pytest.param("$A $(A", "$A $(A", id="not-a-reference"),
])
def test_expand_vars(text, expected):
    """Kubernetes' expansion: only $(NAME) of defined names, $$ unescapes."""
    assert expand_vars(text, {"A": "1", "B": "two"}) == expected


def test_mounts_ordered_shallow_to_deep_with_private_tmp(tmp_path):
    """Private /tmp and /mnt first, then mounts by depth; subPath/subPathExpr resolve inside the volume."""
    vols = {"a": tmp_path / "a", "b": tmp_path / "b"}
    for p in vols.values():
        p.mkdir()
    ctr = {"volumeMounts": [{"name": "a", "mountPath": "/x/y/z", "subPathExpr": "$(POD)/logs"},
                            {"name": "b", "mountPath": "/x/", "readOnly": True},
                            {"name": "a", "mountPath": "/tmp/in", "subPath": "input"}]}
    mounts = container_mounts(ctr, vols, env={"POD": "p1"}, tmp_dir=tmp_path / "tmp", where="c")
    assert [m.target for m in mounts] == ["/tmp", "/mnt", "/x", "/tmp/in", "/x/y/z"]
    assert mounts[1] == Mount(str(tmp_path / "tmp-mnt"), "/mnt")
    assert mounts[2] == Mount(str(tmp_path / "b"), "/x", True)
    assert mounts[4].source == str(tmp_path / "a" / "p1" / "logs") and (tmp_path / "a" / "p1" / "logs").is_dir()
    assert oct((tmp_path / "tmp").stat().st_mode & 0o7777) == "0o1777"


def test_keep_visible_rebinds_hidden_agent_paths(tmp_path):
    """A host path under a mount target is bound back onto itself (after the mount hiding it)."""
    mounts = container_mounts({}, {}, env={}, tmp_dir=tmp_path / "t", where="c",
                              keep_visible=[Path("/tmp/agent-root"), Path("/opt/python")])
    assert [(m.source, m.target) for m in mounts] == [(str(tmp_path / "t"), "/tmp"), (str(tmp_path / "t-mnt"), "/mnt"),
                                                      ("/tmp/agent-root", "/tmp/agent-root")]


@pytest.mark.parametrize("mount,message", [
    pytest.param({"name": "nope", "mountPath": "/a"}, "volume 'nope' is not defined", id="unknown-volume"),
    pytest.param({"name": "v", "mountPath": "rel"}, "mountPath must be absolute", id="relative"),
    pytest.param({"name": "v", "mountPath": "/a/../b"}, "must not contain '..'", id="dotdot"),
    pytest.param({"name": "v", "mountPath": "/a", "subPath": "../up"}, "must not contain '..'", id="subpath-escape"),
])
def test_bad_mounts_name_the_place(tmp_path, mount, message):
    with pytest.raises(NodeAgentError) as info:
        container_mounts({"volumeMounts": [mount]}, {"v": tmp_path}, env={}, tmp_dir=None, where="pod x container c")
    assert message in str(info.value) and "pod x container c.volumeMounts[0]" in str(info.value)


def test_namespace_launch_goes_through_enter(tmp_path):
    launch = launch_spec(Isolation.NAMESPACE, ["sh", "-c", "x"], {"A": "1"}, cwd="/w",
                         mounts=[Mount("/h", "/c")], view_dir=tmp_path, errfd=7)
    assert launch.argv[:5] == [sys.executable, "-I", "-S", ENTER_SCRIPT, "7"]
    assert launch.argv[-4:] == ["--", "sh", "-c", "x"] and launch.cwd is None and launch.uses_errfd


def test_rewrite_launch_maps_paths_in_argv_env_and_cwd(tmp_path):
    """Without namespaces, mount paths in argv (also inside shell text), env and workingDir are mapped."""
    mounts = [Mount("/tmp/private", "/tmp"), Mount(str(tmp_path / "data"), "/data"),
              Mount(str(tmp_path / "run"), "/var/run/argo"), Mount(str(tmp_path / "d2"), "/data/deep"),
              Mount(str(tmp_path / "data"), "/mainctrfs/data")]
    argv = ["/var/run/argo/argoexec", "emissary", "--", "sh", "-c", "echo x > /data/out; cat /data/deep/f /database"]
    launch = launch_spec(Isolation.REWRITE, argv, {"P": "/var/run/argo/progress", "Q": "/tmp/keep"}, cwd="/data",
                         mounts=mounts, view_dir=tmp_path / "view", errfd=None)
    d = str(tmp_path / "data")
    assert launch.argv == [f"{tmp_path}/run/argoexec", "emissary", "--", "sh", "-c",
                           f"echo x > {d}/out; cat {tmp_path}/d2/f /database"]
    assert launch.env["P"] == f"{tmp_path}/run/progress"
    assert launch.env["Q"] == "/tmp/keep"  # no private /tmp in rewrite mode
    assert launch.env["ARGO_VAR_RUN"] == f"{tmp_path}/run"
    assert Path(launch.env["ARGO_MAINCTRFS"], "data").resolve() == Path(d).resolve()
    assert launch.cwd == d


async def test_container_env_sources_and_order():
    """envFrom then env, prefix, invalid keys skipped, key refs, optional, resourceFieldRef, fieldRef labels."""
    api = EmbeddedApi()
    await api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
                                   "data": {"A": "from-cm", "bad key": "x", "B": "b"}}, namespace="ns")
    await api.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
                               "data": {"k": base64.b64encode(b"v").decode()}}, namespace="ns")
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "web"}}, "spec": {}}
    ctr = {"envFrom": [{"configMapRef": {"name": "cm"}}, {"configMapRef": {"name": "cm"}, "prefix": "X_"},
                       {"secretRef": {"name": "absent", "optional": True}}],
           "env": [{"name": "A", "value": "over-$(B)"},
                   {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
                   {"name": "O", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "zz", "optional": True}}},
                   {"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                   {"name": "U", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                   {"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}],
           "resources": {"limits": {"memory": "64Mi"}}}
    env = await container_env(pod, ctr, cache=SourceCache(api, "ns"), image_env={"IMG": "1"}, where="c")
    assert env["A"] == "over-b" and env["X_A"] == "from-cm" and "bad key" not in env and "X_bad key" not in env
    assert (env["S"], env["L"], env["U"], env["M"], env["IMG"], env["HOSTNAME"]) == ("v", "web", "u-1", "64", "1", "p")
    assert "O" not in env and "PATH" in env


@pytest.mark.parametrize("item,message", [
    pytest.param({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey"}}},
                 'couldn\'t find key nokey in configmap "cm"', id="missing-key"),
    pytest.param({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
                 "unsupported fieldRef.fieldPath 'spec.bogus'", id="bad-field"),
    pytest.param({"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
                 "unsupported resourceFieldRef.resource 'limits.gpu'", id="bad-resource"),
    pytest.param({"value": "x"}, "env var needs a name", id="no-name"),
])
async def test_container_env_errors_name_the_place(item, message):
    api = EmbeddedApi()
    await api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "ns"},
                                   "data": {"a": "1"}}, namespace="ns")
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    with pytest.raises(ContainerConfigError) as info:
        await container_env(pod, {"env": [item]}, cache=SourceCache(api, "ns"), image_env={}, where="pod ns/p container c")
    assert info.value.message == message and info.value.where.startswith("pod ns/p container c.env[0]")


@pytest.mark.parametrize("text,value", [("100m", 0.1), ("2", 2.0), ("1Gi", 2**30), ("1.5k", 1500.0), ("1e3", 1000.0)])
def test_parse_quantity(text, value):
    assert parse_quantity(text, where="q") == pytest.approx(value)


def test_container_status_states_and_conditions():
    """waiting -> running -> terminated rendering; condition transition times only move on change."""
    c = ContainerState("main", "busybox")
    assert container_status(c)["state"] == {"waiting": {"reason": "ContainerCreating"}}
    c.start("2026-01-01T00:00:00Z", 42)
    st = container_status(c)
    assert st["state"] == {"running": {"startedAt": "2026-01-01T00:00:00Z"}} and st["ready"] and st["containerID"] == "tiphys://42"
    c.finish("2026-01-01T00:00:05Z", 137)
    term = container_status(c)["state"]["terminated"]
    assert (term["exitCode"], term["reason"], term["finishedAt"]) == (137, "Error", "2026-01-01T00:00:05Z")
    conds = PodConditions()
    conds.set("Ready", False, "t1", reason="ContainersNotReady")
    conds.set("Ready", False, "t2", reason="ContainersNotReady")
    conds.set("PodScheduled", True, "t1")
    assert [(c["type"], c["lastTransitionTime"]) for c in conds.render()] == [("Ready", "t1"), ("PodScheduled", "t1")]
    conds.set("Ready", True, "t3")
    assert conds.render()[0] == {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "t3"}
