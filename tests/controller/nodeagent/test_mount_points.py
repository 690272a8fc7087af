"""The agent leaves no mount points on the host's tree: anchors are counted and removed, deeper
entries live in a private tmpfs (both isolation modes, both enter helpers)."""
from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tiphys.controller.api import CONFIG_MAPS
from tiphys.controller.nodeagent import Isolation
from tiphys.controller.nodeagent.errors import ContainerConfigError
from tiphys.controller.nodeagent.mountpoints import Lease, MountPoints
from tiphys.controller.nodeagent.sandbox import PYTHON_HELPER, build_enter_helper

from .conftest import needs_namespaces, pod, sh, statuses


@pytest.fixture
def probe_root():
    """A fresh top-level path, and the guarantee that the test never leaves it behind itself."""
    path = Path(f"/tiphys-probe-{uuid.uuid4().hex[:10]}")
    assert not os.path.lexists(path)
    yield path
    leftover = os.path.lexists(path)
    if leftover:
        subprocess.run(["rm", "-rf", str(path)], check=False)
    assert not leftover, f"{path} was left on the host"


def _modes():
    return [pytest.param(None, id="namespace"), pytest.param(Isolation.REWRITE, id="rewrite")]


def _options(mode):
    if mode is None:
        needs_namespaces()
        return {}
    return {"isolation": mode}


# -- the registry alone -----------------------------------------------------------------------

def test_anchor_is_the_first_missing_component_and_is_shared(probe_root):
    points = MountPoints()
    deep = str(probe_root / "deep" / "file")
    tmpfs_a, lease_a = points.plan([(deep, False)], cwd=None, where="a")
    tmpfs_b, lease_b = points.plan([(deep, True)], cwd=None, where="b")
    assert tmpfs_a == tmpfs_b == [str(probe_root)]
    assert probe_root.is_dir() and not any(probe_root.iterdir())  # deeper entries are not on the host
    assert points.held() == {str(probe_root): 2}
    points.release(lease_a)
    assert probe_root.is_dir()  # still held by b: removing it would detach b's tmpfs
    points.release(lease_b)
    assert not os.path.lexists(probe_root) and points.held() == {}


def test_whole_target_stub_has_the_source_kind(probe_root):
    points = MountPoints()
    tmpfs, lease = points.plan([(str(probe_root), False)], cwd=None, where="pod p container c")
    assert tmpfs == [] and probe_root.is_file()
    with pytest.raises(ContainerConfigError, match=f"mount point {probe_root} is needed as a dir") as err:
        points.plan([(str(probe_root), True)], cwd=None, where="pod p container d")
    assert err.value.where == "pod p container d"
    points.release(lease)
    assert not os.path.lexists(probe_root)


def test_cwd_and_targets_under_mounts(probe_root, tmp_path):
    points = MountPoints()
    targets = [("/tmp", True), (str(probe_root), True), (str(probe_root / "x"), True)]
    tmpfs, lease = points.plan(targets, cwd="/tmp/a/b", where="w")
    assert tmpfs == [] and lease.paths == (str(probe_root),)  # /tmp/a and probe/x are inside mounts
    points.release(lease)
    tmpfs, lease = points.plan([], cwd=str(probe_root / "work"), where="w")
    assert tmpfs == [str(probe_root)]
    points.release(lease)
    assert not os.path.lexists(probe_root)
    assert points.plan([], cwd=str(tmp_path), where="w") == ([], Lease())  # the host's own


def test_not_empty_or_failed_plans_leave_what_is_not_ours(probe_root):
    points = MountPoints()
    _, lease = points.plan([(str(probe_root / "a"), True)], cwd=None, where="w")
    (probe_root / "someone-else").write_text("x")  # written on the host, not by the agent
    points.release(lease)
    assert (probe_root / "someone-else").read_text() == "x"
    (probe_root / "someone-else").unlink()
    probe_root.rmdir()
    blocker = Path(f"/tiphys-probe-{uuid.uuid4().hex[:10]}")
    blocker.write_text("content")  # a file of the host's where a directory would be needed
    try:
        with pytest.raises(ContainerConfigError, match="cannot create the mount point"):
            points.plan([(str(probe_root / "ok"), True), (str(blocker / "x" / "y"), True)], cwd=None, where="w")
        # the first anchor was given back: nothing taken, nothing left
        assert points.held() == {} and not os.path.lexists(probe_root)
    finally:
        blocker.unlink()


# -- the enter helpers' tmpfs -----------------------------------------------------------------

@pytest.mark.parametrize("kind", ["c", "python"])
def test_enter_helper_mounts_a_private_tmpfs(kind, tmp_path, probe_root):
    needs_namespaces()
    helper = PYTHON_HELPER if kind == "python" else build_enter_helper(tmp_path / "bin")
    if helper is None:
        pytest.skip("no C compiler: only the Python helper is used on this host")
    probe_root.mkdir()
    try:
        data = tmp_path / "data"
        data.write_text("hello")
        r, w = os.pipe()
        args = [str(w), "", "", str(probe_root / "cwd"), "2", "", str(probe_root), "0",
                str(data), str(probe_root / "deep" / "file"), "1"]
        proc = subprocess.run([*helper, *args, "--", "sh", "-c",
                               "cat ../deep/file; echo; pwd; touch ../mine; stat -f -c %T ."],
                              pass_fds=(w,), capture_output=True, text=True, timeout=60, check=False)
        os.close(w)
        err = os.read(r, 4096).decode()
        os.close(r)
        assert (err, proc.returncode) == ("", 0), proc.stderr
        assert proc.stdout == f"hello\n{probe_root}/cwd\ntmpfs\n"
        assert list(probe_root.iterdir()) == []  # everything deeper was in the container's tmpfs
    finally:
        probe_root.rmdir()


# -- whole pods -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", _modes())
async def test_pod_leaves_no_mount_point(harness, mode, probe_root):
    """A volume at /tiphys-probe-<random>/deep/file and a workingDir under it: gone after the pod."""
    target = probe_root / "deep" / "file"
    async with harness(**_options(mode)) as h:
        vol = [{"name": "v", "emptyDir": {}}]
        main = sh("main", f"echo hi > {target}/msg; cat {target}/msg; pwd",
                  workingDir=str(probe_root / "work"), volumeMounts=[{"name": "v", "mountPath": str(target)}])
        await h.create(pod("leave", main, volumes=vol))
        p = await h.finished("leave")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("leave", "main").startswith("hi\n")
        volume = h.root / "pods" / p["metadata"]["uid"] / "volumes" / "v" / "msg"
        assert volume.read_text() == "hi\n"
        assert h.agent.ctx.mount_points.held() == {}


async def test_concurrent_file_and_directory_at_one_path(harness, probe_root):
    """One pod binds a file at a path where another binds a directory, at the same time."""
    needs_namespaces()
    target = probe_root / "deep" / "thing"
    async with harness() as h:
        await h.api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "one", "namespace": "default"},
                                         "data": {"key": "from-file"}}, namespace="default")
        as_file = sh("main", f"sleep 0.5; cat {target}",
                     volumeMounts=[{"name": "cm", "mountPath": str(target), "subPath": "key"}])
        as_dir = sh("main", f"echo from-dir > {target}/x; sleep 0.5; cat {target}/x",
                    volumeMounts=[{"name": "d", "mountPath": str(target)}])
        await h.create(pod("file", as_file, volumes=[{"name": "cm", "configMap": {"name": "one"}}]))
        await h.create(pod("dir", as_dir, volumes=[{"name": "d", "emptyDir": {}}]))
        f, d = await h.finished("file"), await h.finished("dir")
        assert f["status"]["phase"] == d["status"]["phase"] == "Succeeded", (f["status"], d["status"])
        ft, dt = statuses(f)["main"]["state"]["terminated"], statuses(d)["main"]["state"]["terminated"]
        assert ft["startedAt"] <= dt["finishedAt"] and dt["startedAt"] <= ft["finishedAt"]
        assert h.log("file", "main") == "from-file"
        assert h.log("dir", "main") == "from-dir\n"


@pytest.mark.parametrize("mode", _modes())
async def test_path_under_an_existing_host_directory(harness, mode):
    """A mount under /var (the host's own directory) leaves /var as it was."""
    name = f"tiphys-probe-{uuid.uuid4().hex[:10]}"
    target = Path("/var") / name / "sub" / "file"
    before = sorted(os.listdir("/var"))
    try:
        async with harness(**_options(mode)) as h:
            await h.api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "one", "namespace": "default"},
                                             "data": {"key": "content"}}, namespace="default")
            main = sh("main", f"cat {target}", volumeMounts=[{"name": "cm", "mountPath": str(target),
                                                               "subPath": "key"}])
            await h.create(pod("var", main, volumes=[{"name": "cm", "configMap": {"name": "one"}}]))
            p = await h.finished("var")
            assert p["status"]["phase"] == "Succeeded", p["status"]
            assert h.log("var", "main") == "content"
        assert sorted(os.listdir("/var")) == before
    finally:
        subprocess.run(["rm", "-rf", f"/var/{name}"], check=False)
