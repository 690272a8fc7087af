"""ImageMap: which host program runs for an image, and Kubernetes' command/args rule."""
from __future__ import annotations

import shutil
import sys

import pytest

from tiphys.controller.nodeagent import HostImage, ImageMap, ImageNotMapped, normalize_image

ARGOSAY = [sys.executable, "-m", "tiphys.executor.argosay"]
EXECUTOR = [sys.executable, "-m", "tiphys.executor"]


@pytest.mark.parametrize("image,expected", [
    pytest.param("docker.io/library/python:3.12", "python:3.12", id="docker-hub-library"),
    pytest.param("index.docker.io/argoproj/argosay:v2", "argoproj/argosay:v2", id="index"),
    pytest.param("busybox", "busybox", id="bare"),
    pytest.param("ghcr.io/acme/x:1", "ghcr.io/acme/x:1", id="other-registry"),
])
def test_normalize(image, expected):
    """Docker Hub prefixes are dropped, other registries kept."""
    assert normalize_image(image) == expected


@pytest.mark.parametrize("image,command,args,argv", [
    pytest.param("busybox:1.36", ["sh", "-c"], ["echo hi"], ["sh", "-c", "echo hi"], id="command-and-args"),
    pytest.param("alpine", None, None, ["sh"], id="default-cmd"),
    pytest.param("alpine", None, ["echo", "x"], ["echo", "x"], id="args-replace-cmd"),
    pytest.param("ubuntu:24.04", None, [], None, id="explicit-empty-args-no-entrypoint"),
    pytest.param("python:3.12-slim", ["python3", "-c", "pass"], None, [sys.executable, "-c", "pass"], id="python3"),
    pytest.param("docker.io/library/python", ["/usr/local/bin/python", "x.py"], None, [sys.executable, "x.py"],
                 id="python-by-basename"),
    pytest.param("argoproj/argosay:v2", None, ["echo", "hello"], [*ARGOSAY, "echo", "hello"], id="argosay-entrypoint"),
    pytest.param("argoproj/argosay:v2", ["/argosay"], None, ARGOSAY, id="argosay-command"),
    pytest.param("quay.io/tiphys/tiphys:v0.1.0", ["tiphys-executor", "init"], None, [*EXECUTOR, "init"],
                 id="executor"),
    pytest.param("python:3.11", ["/var/run/argo/argoexec", "emissary", "--", "python3", "s.py"], None,
                 ["/var/run/argo/argoexec", "emissary", "--", sys.executable, "s.py"], id="wrapped-main"),
    pytest.param("argoproj/argosay:v2", ["/var/run/argo/argoexec", "emissary", "--loglevel", "info", "--", "/argosay"],
                 ["echo"], ["/var/run/argo/argoexec", "emissary", "--loglevel", "info", "--", *ARGOSAY, "echo"],
                 id="wrapped-with-flags"),
])
def test_resolve(image, command, args, argv):
    """command replaces ENTRYPOINT; args (even empty) replace CMD; programs map argv[0] (after `--` when wrapped)."""
    images = ImageMap()
    if argv is None:
        with pytest.raises(ImageNotMapped, match="no command given"):
            images.resolve(image, command, args, where="c")
        return
    assert images.resolve(image, command, args).argv == argv


def test_unknown_image_message_names_image_and_place():
    """No rule, no fallback: ImageNotMapped with the kubelet reason and a message naming the image."""
    with pytest.raises(ImageNotMapped) as info:
        ImageMap().resolve("ghcr.io/acme/tool:2", ["tool"], None, where="pod ns/p container main")
    exc = info.value
    assert exc.reason == "ErrImageNeverPull" and exc.image == "ghcr.io/acme/tool:2"
    assert exc.message == "image ghcr.io/acme/tool:2 has no host equivalent (configure the image map)"
    assert str(exc) == f"pod ns/p container main: {exc.message}"


def test_user_rules_come_first_and_fallback_applies():
    """Configured rules win over the defaults; a fallback catches everything else."""
    custom = HostImage(entrypoint=("my-tool",), env={"TOOL": "1"})
    images = ImageMap([("busybox*", custom)], fallback=HostImage(cmd=("true",)))
    r = images.resolve("busybox", None, None)
    assert (r.argv, r.env) == (["my-tool"], {"TOOL": "1"})
    assert images.resolve("ghcr.io/anything", None, None).argv == ["true"]
    assert ImageMap(defaults=False, fallback=None).is_executor("quay.io/tiphys/tiphys:v0.1.0")
    with pytest.raises(ImageNotMapped):
        ImageMap(defaults=False).lookup("busybox")


def test_bad_rule_is_a_type_error():
    with pytest.raises(TypeError, match=r"rules\[0\]"):
        ImageMap([("busybox", {"cmd": ["sh"]})])  # type: ignore[list-item]


def test_node_image_requires_node_on_the_host(monkeypatch):
    """node:* maps to the host's node, and says so when it is not installed."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ImageNotMapped, match="node is not installed on this host"):
        ImageMap().lookup("node:20")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    assert ImageMap().resolve("node:20", None, ["-e", "1"]).argv == ["-e", "1"]
    assert ImageMap().resolve("node:20", None, None).argv == ["node"]


def test_executor_env_is_added():
    """with_executor_env adds variables to the executor image only."""
    images = ImageMap(executor_image="example/exec:1").with_executor_env({"TIPHYS_WRAPPER": "/w"})
    assert images.resolve("example/exec:1", ["argoexec", "wait"], None).env == {"TIPHYS_WRAPPER": "/w"}
    assert images.resolve("busybox", ["true"], None).env == {}
    with pytest.raises(ImageNotMapped, match="has no image"):
        images.lookup("")
