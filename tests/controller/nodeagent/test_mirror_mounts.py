"""`/mainctrfs`, Argo's mirror of main's mounts in wait and init, is private to each container.

The mount points of one container must not be left on the host for the next: a directory
mirrored at `/mainctrfs/<p>` and then, in a later pod, a file at the same place (an input
artifact read whole, then through `subPath` of one file: `artifact-passing-subpath.yaml`).
"""
from __future__ import annotations

import uuid

from tiphys.controller.nodeagent import Mount
from tiphys.controller.nodeagent.sandbox import container_mounts

from .conftest import needs_namespaces, pod, sh


def test_private_mirror_root_only_when_mirroring(tmp_path):
    """A container mounting under /mainctrfs gets a fresh private /mainctrfs; others do not."""
    vols = {"v": tmp_path / "v"}
    (tmp_path / "v" / "f").mkdir(parents=True)
    plain = container_mounts({"volumeMounts": [{"name": "v", "mountPath": "/data"}]}, vols, env={},
                             tmp_dir=tmp_path / "main", where="c")
    assert "/mainctrfs" not in [m.target for m in plain]
    stale = tmp_path / "wait-mainctrfs" / "left-over"
    stale.mkdir(parents=True)
    mirrored = container_mounts({"volumeMounts": [{"name": "v", "mountPath": "/mainctrfs/tmp/m", "subPath": "f"}]},
                                vols, env={}, tmp_dir=tmp_path / "wait", where="c")
    assert [m.target for m in mirrored] == ["/tmp", "/mnt", "/mainctrfs", "/mainctrfs/tmp/m"]
    assert mirrored[2] == Mount(str(tmp_path / "wait-mainctrfs"), "/mainctrfs")
    assert not stale.exists()  # a fresh tree, as a new root filesystem would be


def test_mirror_root_not_added_without_private_tmp(tmp_path):
    """Path-rewriting mode (no tmp_dir) keeps mirrored mounts as they are: it has its own view directory."""
    (tmp_path / "v").mkdir()
    mounts = container_mounts({"volumeMounts": [{"name": "v", "mountPath": "/mainctrfs/x"}]}, {"v": tmp_path / "v"},
                              env={}, tmp_dir=None, where="c")
    assert [m.target for m in mounts] == ["/mainctrfs/x"]


async def test_file_mirrored_where_an_earlier_pod_mirrored_a_directory(harness):
    """Pod one mirrors a directory at /mainctrfs/<p>, pod two a file (subPath) at the same path: both run."""
    needs_namespaces()
    at = f"/mainctrfs/tiphys-test-{uuid.uuid4().hex[:8]}/message"
    vols = [{"name": "arts", "emptyDir": {}}]
    fill = sh("init", "mkdir -p /arts/dir && echo in-dir > /arts/dir/f && echo in-file > /arts/file",
              volumeMounts=[{"name": "arts", "mountPath": "/arts"}])
    async with harness() as h:
        await h.create(pod("as-dir", sh("wait", f"cat {at}/f", volumeMounts=[
            {"name": "arts", "mountPath": at, "subPath": "dir"}]), init=[fill], volumes=vols))
        first = await h.finished("as-dir")
        assert first["status"]["phase"] == "Succeeded", first["status"]
        await h.create(pod("as-file", sh("wait", f"cat {at}", volumeMounts=[
            {"name": "arts", "mountPath": at, "subPath": "file"}]), init=[fill], volumes=vols))
        second = await h.finished("as-file")
        assert second["status"]["phase"] == "Succeeded", second["status"]
        assert (h.log("as-dir", "wait"), h.log("as-file", "wait")) == ("in-dir\n", "in-file\n")
