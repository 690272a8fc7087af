"""Artifact credentials in workflow pods: Secret volumes at /argo/secret/<name> (Argo
`createSecretVolumesAndMounts`) -- which Secrets, which keys, which containers, and the names."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from tiphys.core.plan import _podvolumes as vols
from tiphys.core.plan._poderrors import PodSpecError
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.podspec import build_pod

META = WorkflowMeta(name="wf-abc", namespace="argo", uid="uid-1")
SETTINGS = PodSettings(executor_image="exec:1", executor_command=("tx",), wrapper_path="/var/run/argo/argoexec")


def build(template, spec=None, **kw):
    opts = dict(meta=META, spec=spec or {}, node_id="wf-abc-123", node_name="wf-abc.a", pod_name="wf-abc-t-123",
                settings=SETTINGS)
    opts.update(kw)
    return build_pod(template, **opts)


def containers(pod):
    return {c["name"]: c for c in pod["spec"]["containers"] + pod["spec"]["initContainers"]}


def secret_mounts(container):
    return [m for m in container.get("volumeMounts") or () if m["mountPath"].startswith("/argo/secret")]


def secret_volumes(pod):
    return [v for v in pod["spec"]["volumes"] if "secret" in v and v["name"] != "exec-sa-token"]


def sel(name, key):
    return {"name": name, "key": key}


S3_CREDS = {"accessKeySecret": sel("s3-creds", "accesskey"), "secretKeySecret": sel("s3-creds", "secretkey")}
S3_IN = {"name": "in", "path": "/in", "s3": {"endpoint": "s3:9000", "bucket": "b", "key": "in.tgz", **S3_CREDS}}
S3_OUT = {"name": "out", "path": "/out", "s3": {"endpoint": "s3:9000", "bucket": "b", "key": "out.tgz", **S3_CREDS}}


def container_tmpl(**extra):
    return {"name": "t", "container": {"image": "busybox", "command": ["true"]}, **extra}


def test_one_volume_per_secret_with_the_referenced_keys_mounted_read_only_in_init_and_wait():
    """An input and an output artifact reading two keys of one Secret: one volume named after the
    Secret, its two keys as items (key -> same file), at /argo/secret/s3-creds in init and wait only."""
    pod = build(container_tmpl(inputs={"artifacts": [S3_IN]}, outputs={"artifacts": [S3_OUT]},
                               sidecars=[{"name": "side", "image": "busybox", "command": ["sleep", "1"]}],
                               initContainers=[{"name": "user-init", "image": "busybox", "command": ["true"]}]))
    assert secret_volumes(pod) == [{"name": "s3-creds", "secret": {
        "secretName": "s3-creds", "items": [{"key": "accesskey", "path": "accesskey"},
                                            {"key": "secretkey", "path": "secretkey"}]}}]
    mount = {"name": "s3-creds", "mountPath": "/argo/secret/s3-creds", "readOnly": True}
    by_name = containers(pod)
    assert secret_mounts(by_name["init"]) == [mount]
    assert secret_mounts(by_name["wait"]) == [mount]
    for other in ("main", "side", "user-init"):
        assert secret_mounts(by_name[other]) == [], other
    # wait mirrors main's mounts under /mainctrfs; the secret is not among them
    assert not any(m["name"] == "s3-creds" and m["mountPath"].startswith("/mainctrfs")
                   for m in by_name["wait"]["volumeMounts"])


def test_no_credentials_no_secret_volume():
    pod = build(container_tmpl(outputs={"artifacts": [{"name": "o", "path": "/o", "s3": {"key": "k"}}]},
                               archiveLocation={"s3": {"bucket": "b", "endpoint": "e", "key": "k"}}))
    assert secret_volumes(pod) == []
    assert all(secret_mounts(c) == [] for c in containers(pod).values())


def test_archive_location_from_the_repository_and_every_location_type_dedup_and_sorted():
    """The archiveLocation the controller filled in (archiveLogs on), S3 SSE-C when enabled, git,
    HTTP auth, artifactory, OSS, GCS, Azure, HDFS: Secrets sorted by name, keys deduplicated."""
    archive = {"archiveLogs": True, "s3": {"bucket": "b", "endpoint": "e", "key": "wf/pod",
                                           "accessKeySecret": sel("repo", "ak"), "secretKeySecret": sel("repo", "sk"),
                                           "sessionTokenSecret": sel("repo", "tok"),
                                           "encryptionOptions": {"enableEncryption": True,
                                                                 "serverSideCustomerKeySecret": sel("ssec", "k")}}}
    inputs = [
        {"name": "g", "path": "/g", "git": {"repo": "r", "usernameSecret": sel("git", "user"),
                                            "passwordSecret": sel("git", "pass"),
                                            "sshPrivateKeySecret": sel("git-ssh", "id")}},
        {"name": "h", "path": "/h", "http": {"url": "u", "auth": {
            "basicAuth": {"usernameSecret": sel("web", "u"), "passwordSecret": sel("web", "p")},
            "clientCert": {"clientCertSecret": sel("tls", "crt"), "clientKeySecret": sel("tls", "key")},
            "oauth2": {"clientIDSecret": sel("oauth", "id"), "clientSecretSecret": sel("oauth", "secret")}}}},
        {"name": "a", "path": "/a", "artifactory": {"url": "u", "usernameSecret": sel("arti", "u"),
                                                    "passwordSecret": sel("arti", "p")}},
        {"name": "again", "path": "/again", "s3": {"key": "x", "accessKeySecret": sel("repo", "ak")}},
    ]
    outputs = [
        {"name": "o", "path": "/o", "oss": {"key": "k", "accessKeySecret": sel("oss", "a"),
                                            "secretKeySecret": sel("oss", "b")}},
        {"name": "gc", "path": "/gc", "gcs": {"key": "k", "serviceAccountKeySecret": sel("gcs", "sa.json")}},
        {"name": "az", "path": "/az", "azure": {"blob": "k", "accountKeySecret": sel("azure", "key")}},
        {"name": "hd", "path": "/hd", "hdfs": {"path": "p", "krbKeytabSecret": sel("hdfs", "keytab"),
                                               "krbCCacheSecret": sel("hdfs", "ccache")}},
    ]
    pod = build(container_tmpl(archiveLocation=archive, inputs={"artifacts": inputs}, outputs={"artifacts": outputs}))
    got = {v["secret"]["secretName"]: [i["key"] for i in v["secret"]["items"]] for v in secret_volumes(pod)}
    assert list(got) == sorted(got)
    assert got == {"arti": ["u", "p"], "azure": ["key"], "gcs": ["sa.json"], "git": ["user", "pass"],
                   "git-ssh": ["id"], "hdfs": ["keytab", "ccache"], "oauth": ["id", "secret"], "oss": ["a", "b"],
                   "repo": ["ak", "sk", "tok"], "ssec": ["k"], "tls": ["crt", "key"], "web": ["u", "p"]}
    wait = containers(pod)["wait"]
    assert [m["mountPath"] for m in secret_mounts(wait)] == [f"/argo/secret/{n}" for n in sorted(got)]
    assert secret_mounts(containers(pod)["init"]) == secret_mounts(wait)


def test_sse_c_key_only_when_encryption_is_enabled_and_only_the_first_location_type_counts():
    s3 = {"key": "k", "accessKeySecret": sel("a", "k"),
          "encryptionOptions": {"enableEncryption": False, "serverSideCustomerKeySecret": sel("ssec", "k")}}
    assert vols.secret_refs({"s3": s3}, where="x") == [("a", "k")]
    # Argo's if/else chain: an (invalid) location with s3 and git reads only the s3 selectors
    both = {"s3": {"key": "k", "accessKeySecret": sel("a", "k")}, "git": {"usernameSecret": sel("g", "u")}}
    assert vols.secret_refs(both, where="x") == [("a", "k")]
    # a selector without a name or key is skipped, as Argo's createSecretVal does
    assert vols.secret_refs({"s3": {"accessKeySecret": {"name": "a"}, "secretKeySecret": {"key": "k"}}},
                            where="x") == []


def test_data_pods_mount_credentials_in_main_and_init():
    """A data template lists `source.artifactPaths` from its main container (argoexec data): main
    and init get the Secret; there is no wait container."""
    data = {"source": {"artifactPaths": {"name": "src", "s3": {"endpoint": "e", "bucket": "b", "key": "logs",
                                                                **S3_CREDS}}},
            "transformation": [{"expression": "data"}]}
    pod = build({"name": "d", "data": data})
    by_name = containers(pod)
    assert "wait" not in by_name
    mount = {"name": "s3-creds", "mountPath": "/argo/secret/s3-creds", "readOnly": True}
    assert secret_mounts(by_name["main"]) == [mount]
    assert secret_mounts(by_name["init"]) == [mount]


def test_resource_pods_mount_in_init_and_in_wait_only_when_it_archives_logs():
    """`manifestFrom.artifact` is an input artifact: init downloads it (with the Secret), main reads
    the downloaded file and gets none; a wait container archiving logs gets the archive's Secret."""
    tmpl = {"name": "r", "inputs": {"artifacts": [{**S3_IN, "path": "/manifest.yaml"}]},
            "resource": {"action": "create", "manifestFrom": {"artifact": {"name": "in"}}}}
    pod = build(tmpl)
    by_name = containers(pod)
    assert "wait" not in by_name
    assert [m["name"] for m in secret_mounts(by_name["init"])] == ["s3-creds"]
    assert secret_mounts(by_name["main"]) == []
    archived = build({**tmpl, "archiveLocation": {"archiveLogs": True, "s3": {
        "endpoint": "e", "bucket": "b", "key": "k", "accessKeySecret": sel("logs-creds", "a")}}})
    by_name = containers(archived)
    assert [m["name"] for m in secret_mounts(by_name["wait"])] == ["logs-creds", "s3-creds"]
    assert secret_mounts(by_name["main"]) == []


@pytest.mark.parametrize("secret, taken", [
    pytest.param("my.creds", (), id="dots"),
    pytest.param("c" * 70, (), id="longer-than-a-label"),
    pytest.param("s3-creds", ("s3-creds",), id="a-user-volume-of-that-name"),
])
def test_volume_names_that_would_be_invalid_or_clash_are_derived_stably(secret, taken):
    """Argo names the volume after the Secret; where that is no valid volume name (dots, > 63
    characters) or a volume of the pod has it already, the name is `secret-<stem>-<hash>`: a valid
    DNS label, the same for the same Secret, different for different Secrets. The mount path
    keeps the Secret's own name."""
    locations = [("t", {"s3": {"accessKeySecret": sel(secret, "k")}})]
    (vol,), (mount,) = vols.secret_volumes(locations, taken=taken)
    assert vol["name"] != secret and vol["name"] not in taken
    assert len(vol["name"]) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", vol["name"])
    assert vol["secret"]["secretName"] == secret
    assert mount == {"name": vol["name"], "mountPath": f"/argo/secret/{secret}", "readOnly": True}
    assert vols.secret_volumes(locations, taken=taken)[0][0]["name"] == vol["name"]
    other = [("t", {"s3": {"accessKeySecret": sel(secret + "x", "k")}})]
    assert vols.secret_volumes(other, taken=taken)[0][0]["name"] != vol["name"]


def test_a_user_volume_of_the_same_secret_keeps_its_name_in_the_pod():
    """A template mounting the same Secret for its own use: both volumes exist, names distinct."""
    tmpl = container_tmpl(volumes=[{"name": "s3-creds", "secret": {"secretName": "s3-creds"}}],
                          inputs={"artifacts": [S3_IN]})
    tmpl["container"]["volumeMounts"] = [{"name": "s3-creds", "mountPath": "/creds"}]
    pod = build(tmpl)
    names = [v["name"] for v in pod["spec"]["volumes"]]
    assert len(names) == len(set(names))
    (ours,) = [v for v in pod["spec"]["volumes"] if v["name"] != "s3-creds" and "secret" in v]
    assert ours["secret"]["secretName"] == "s3-creds" and ours["name"].startswith("secret-s3-creds-")
    assert secret_mounts(containers(pod)["init"]) == [
        {"name": ours["name"], "mountPath": "/argo/secret/s3-creds", "readOnly": True}]


@pytest.mark.parametrize("ref, field, needle", [
    pytest.param(sel("Bad_Name", "k"), "inputs.artifacts[0].s3.accessKeySecret.name", "'Bad_Name'", id="name"),
    pytest.param(sel("ok", "../etc/passwd"), "inputs.artifacts[0].s3.accessKeySecret.key", "'../etc/passwd'",
                 id="key-with-slash"),
    pytest.param(sel("ok", "..hidden"), "inputs.artifacts[0].s3.accessKeySecret.key", "'..hidden'", id="key-dotdot"),
])
def test_a_bad_selector_is_a_pod_spec_error_naming_the_field(ref, field, needle):
    tmpl = container_tmpl(inputs={"artifacts": [{"name": "in", "path": "/in", "s3": {"key": "k",
                                                                                      "accessKeySecret": ref}}]})
    with pytest.raises(PodSpecError) as err:
        build(tmpl)
    assert f"template t.{field}" in str(err.value) and needle in str(err.value)


def test_pod_spec_patch_sees_the_secret_volumes():
    """Like Argo, the volumes are in the pod before the podSpecPatch is merged: a patch may change one."""
    patch = '{"volumes": [{"name": "s3-creds", "secret": {"secretName": "s3-creds", "defaultMode": 256}}]}'
    pod = build(container_tmpl(inputs={"artifacts": [S3_IN]}, podSpecPatch=patch))
    (vol,) = secret_volumes(pod)
    assert vol["secret"]["defaultMode"] == 256 and vol["secret"]["items"][0]["key"] == "accesskey"


def test_restricted_pods_keep_the_secret_volumes():
    settings = PodSettings(executor_image="exec:1", executor_command=("tx",), wrapper_path="/var/run/argo/argoexec",
                           restricted_pods=True)
    pod = build(container_tmpl(inputs={"artifacts": [S3_IN]}), settings=settings)
    assert [v["name"] for v in secret_volumes(pod)] == ["s3-creds"]


_NAMES = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,70}[a-z0-9])?", fullmatch=True).filter(
    lambda n: ".." not in n and ".-" not in n and "-." not in n)
_KEYS = st.from_regex(r"[a-zA-Z0-9_][-._a-zA-Z0-9]{0,10}", fullmatch=True)


@hsettings(max_examples=200, deadline=None)
@given(refs=st.lists(st.tuples(_NAMES, _KEYS), max_size=12),
       taken=st.lists(_NAMES.filter(lambda n: "." not in n and len(n) <= 63), max_size=4))
def test_secret_volumes_are_one_per_secret_with_unique_valid_names(refs, taken):
    """Any Secret references: one volume per Secret, each key once, volume names valid DNS labels
    distinct from each other and from the pod's volumes, one mount per Secret at its own path."""
    locations = [(f"a{i}", {"s3": {"accessKeySecret": sel(n, k)}}) for i, (n, k) in enumerate(refs)]
    volumes, mounts = vols.secret_volumes(locations, taken=taken)
    assert sorted(v["secret"]["secretName"] for v in volumes) == sorted({n for n, _ in refs})
    for v in volumes:
        want = list(dict.fromkeys(k for n, k in refs if n == v["secret"]["secretName"]))
        assert [i["key"] for i in v["secret"]["items"]] == want
        assert len(v["name"]) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", v["name"])
    names = [v["name"] for v in volumes]
    assert len(set(names)) == len(names) and not set(names) & set(taken)
    assert [m["mountPath"] for m in mounts] == [f"/argo/secret/{v['secret']['secretName']}" for v in volumes]
    assert [m["name"] for m in mounts] == names
