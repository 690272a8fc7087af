"""Mount namespaces and volumes: private /tmp, emptyDir sharing, configMap/secret/PVC/hostPath files."""
from __future__ import annotations

import base64

from tiphys.controller.api import CONFIG_MAPS, SECRETS
from tiphys.controller.nodeagent import Isolation

from .conftest import needs_namespaces, pod, sh, statuses


async def test_concurrent_pods_have_private_tmp(harness):
    """Two pods writing /tmp/out.txt at the same time each read back their own file."""
    needs_namespaces()
    script = "echo {0} > /tmp/out.txt; touch /tmp/only-{0}; sleep 0.5; cat /tmp/out.txt; ls /tmp | grep only-"
    async with harness() as h:
        assert h.agent.isolation is Isolation.NAMESPACE
        await h.create(pod("left", sh("main", script.format("left"))))
        await h.create(pod("right", sh("main", script.format("right"))))
        left, right = await h.finished("left"), await h.finished("right")
        assert left["status"]["phase"] == right["status"]["phase"] == "Succeeded"
        # overlapping lifetimes, or the test would prove nothing
        lt, rt = statuses(left)["main"]["state"]["terminated"], statuses(right)["main"]["state"]["terminated"]
        assert lt["startedAt"] <= rt["finishedAt"] and rt["startedAt"] <= lt["finishedAt"]
        assert h.log("left", "main") == "left\nonly-left\n"
        assert h.log("right", "main") == "right\nonly-right\n"


async def test_empty_dir_shared_between_concurrent_containers(harness):
    """Two containers of one pod meet in an emptyDir (mounted at different paths)."""
    async with harness() as h:
        vol = [{"name": "shared", "emptyDir": {}}]
        writer = sh("writer", "echo ping > /out/msg", volumeMounts=[{"name": "shared", "mountPath": "/out"}])
        reader = sh("reader", "while [ ! -f /in/msg ]; do sleep 0.05; done; cat /in/msg",
                    volumeMounts=[{"name": "shared", "mountPath": "/in"}])
        await h.create(pod("pair", writer, reader, volumes=vol))
        p = await h.finished("pair")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("pair", "reader") == "ping\n"


async def test_config_map_volume_files(harness):
    """A configMap volume materialises keys as files, `items` pick and rename, modes apply."""
    async with harness() as h:
        await h.api.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                         "metadata": {"name": "settings", "namespace": "default"},
                                         "data": {"a.conf": "alpha", "b.conf": "beta"},
                                         "binaryData": {"blob": base64.b64encode(b"\x00\x01").decode()}},
                           namespace="default")
        vols = [{"name": "all", "configMap": {"name": "settings"}},
                {"name": "some", "configMap": {"name": "settings", "defaultMode": 0o600,
                                               "items": [{"key": "b.conf", "path": "sub/renamed"}]}}]
        mounts = [{"name": "all", "mountPath": "/etc/app", "readOnly": True},
                  {"name": "some", "mountPath": "/etc/other"}]
        script = ("cat /etc/app/a.conf; echo; cat /etc/other/sub/renamed; echo; wc -c < /etc/app/blob; "
                  "stat -c %a /etc/other/sub/renamed; ls /etc/other; touch /etc/app/x 2>/dev/null || echo ro")
        await h.create(pod("cm", sh("main", script, volumeMounts=mounts), volumes=vols))
        p = await h.finished("cm")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        expected = "alpha\nbeta\n2\n600\nsub\n"
        if h.agent.isolation is Isolation.NAMESPACE:
            expected += "ro\n"  # a readOnly mount is read-only only in a mount namespace
        assert h.log("cm", "main") == expected


async def test_missing_config_map_fails_with_its_name(harness):
    """A non-optional missing ConfigMap fails the pod with a message naming it; optional is fine."""
    async with harness() as h:
        await h.create(pod("nocm", sh("main", "true", volumeMounts=[{"name": "c", "mountPath": "/c"}]),
                           volumes=[{"name": "c", "configMap": {"name": "absent"}}]))
        await h.create(pod("optcm", sh("main", "ls /c | wc -l", volumeMounts=[{"name": "c", "mountPath": "/c"}]),
                           volumes=[{"name": "c", "configMap": {"name": "absent", "optional": True}}]))
        p = await h.finished("nocm")
        assert p["status"]["phase"] == "Failed"
        assert p["status"]["message"] == 'pod default/nocm volume c.configMap: configmap "absent" not found'
        q = await h.finished("optcm")
        assert q["status"]["phase"] == "Succeeded"
        assert h.log("optcm", "main").strip() == "0"


async def test_secret_env_and_volume(harness):
    """Secrets reach the container as a file and through secretKeyRef/envFrom."""
    async with harness() as h:
        await h.api.create(SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
                                     "data": {"user": base64.b64encode(b"ada").decode(),
                                              "token": base64.b64encode(b"s3cr3t").decode()}}, namespace="default")
        ctr = sh("main", 'echo "$USER_NAME $P_token"; cat /creds/token',
                 env=[{"name": "USER_NAME", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}],
                 envFrom=[{"secretRef": {"name": "creds"}, "prefix": "P_"}],
                 volumeMounts=[{"name": "s", "mountPath": "/creds"}])
        await h.create(pod("sec", ctr, volumes=[{"name": "s", "secret": {"secretName": "creds"}}]))
        p = await h.finished("sec")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("sec", "main") == "ada s3cr3t\ns3cr3t"


async def test_missing_secret_key_is_a_config_error(harness):
    """secretKeyRef to a missing secret: CreateContainerConfigError on the container, pod Failed."""
    async with harness() as h:
        ctr = sh("main", "true", env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}])
        await h.create(pod("nosec", ctr))
        p = await h.finished("nosec")
        waiting = statuses(p)["main"]["state"]["waiting"]
        assert waiting["reason"] == "CreateContainerConfigError"
        assert waiting["message"] == 'secret "nope" not found'
        assert p["status"]["message"] == 'pod default/nosec container main.env[0].valueFrom.secretKeyRef: secret "nope" not found'


async def test_pvc_persists_across_pods_and_subpath(harness):
    """A PVC is a host directory under root/pvcs/<ns>/<claim>, shared by later pods; subPath works."""
    async with harness() as h:
        vol = [{"name": "data", "persistentVolumeClaim": {"claimName": "claim-1"}}]
        await h.create(pod("w", sh("main", "echo kept > /data/f",
                                   volumeMounts=[{"name": "data", "mountPath": "/data", "subPath": "dir"}]),
                           volumes=vol))
        await h.finished("w")
        await h.create(pod("r", sh("main", "cat /data/dir/f", volumeMounts=[{"name": "data", "mountPath": "/data"}]),
                           volumes=vol))
        p = await h.finished("r")
        assert p["status"]["phase"] == "Succeeded"
        assert h.log("r", "main") == "kept\n"
        assert (h.root / "pvcs" / "default" / "claim-1" / "dir" / "f").read_text() == "kept\n"


async def test_host_path_and_downward_api(harness, tmp_path):
    """hostPath binds a host directory; downwardAPI writes pod fields as files."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "in.txt").write_text("from host")
    async with harness() as h:
        vols = [{"name": "h", "hostPath": {"path": str(host), "type": "Directory"}},
                {"name": "d", "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                                                        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}]
        body = pod("hp", sh("main", "cat /mnt/h/in.txt; echo; cat /mnt/d/name; echo; cat /mnt/d/labels; echo out > /mnt/h/out.txt",
                            volumeMounts=[{"name": "h", "mountPath": "/mnt/h"}, {"name": "d", "mountPath": "/mnt/d"}]),
                   volumes=vols)
        body["metadata"]["labels"] = {"app": "x"}
        await h.create(body)
        p = await h.finished("hp")
        assert p["status"]["phase"] == "Succeeded", p["status"]
        assert h.log("hp", "main") == 'from host\nhp\napp="x"'
        assert (host / "out.txt").read_text() == "out\n"


async def test_unsupported_volume_source_names_the_volume(harness):
    """A volume kind the agent cannot provide fails the pod naming the volume and the kind."""
    async with harness() as h:
        await h.create(pod("nfs", sh("main", "true"), volumes=[{"name": "n", "nfs": {"server": "x", "path": "/"}}]))
        p = await h.finished("nfs")
        assert p["status"]["phase"] == "Failed"
        assert p["status"]["message"] == "pod default/nfs volume n: volume source ['nfs'] is not supported by the node agent"
