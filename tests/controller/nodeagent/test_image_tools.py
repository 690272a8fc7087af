"""Programs an image has on its PATH that the host lacks: whalesay's `cowsay`, built in.

`docker/whalesay` and `argoproj/argosay:v1` (built on it) have `cowsay`; argosay v2 has not, so
there a shell's `cowsay` stays `not found` (Argo's conditionals.yaml runs `cowsay hello` in v1).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tiphys.controller.nodeagent import HostImage, ImageMap

from .conftest import pod, sh

WHALE_TAIL = "          \\____\\______/"


@pytest.mark.parametrize("image", ["argoproj/argosay:v1", "docker/whalesay", "docker.io/docker/whalesay:latest",
                                   "argoproj/argosay:v1@sha256:0123"])
def test_whalesay_images_get_a_tool_directory(tmp_path, image):
    """The resolved command carries the shim directory; `cowsay` as argv[0] maps to the built-in."""
    images = ImageMap().with_tool_dir(tmp_path)
    resolved = images.resolve(image, ["cowsay"], ["hi"])
    assert len(resolved.path) == 1 and os.access(os.path.join(resolved.path[0], "cowsay"), os.X_OK)
    assert resolved.argv[:2] == [sys.executable, "-c"] and resolved.argv[-1] == "hi"


def test_whalesay_default_command_is_cowsay(tmp_path):
    """No command: docker/whalesay's CMD is cowsay (as Argo's example `images:` config says)."""
    argv = ImageMap().with_tool_dir(tmp_path).resolve("docker/whalesay:latest", None, None).argv
    assert argv[:2] == [sys.executable, "-c"] and "cowsay" in argv[2]


@pytest.mark.parametrize("image", ["argoproj/argosay:v2", "busybox", "argoproj/argosay"])
def test_other_images_have_no_tools(tmp_path, image):
    resolved = ImageMap().with_tool_dir(tmp_path).resolve(image, ["sh", "-c", "cowsay"], None)
    assert resolved.path == () and resolved.argv == ["sh", "-c", "cowsay"]


def test_shim_runs_the_stand_in_with_its_arguments(tmp_path):
    """The shim execs the tool's argv with the caller's arguments (quoting kept)."""
    ImageMap().with_tool_dir(tmp_path)
    (shim_dir,) = [p for p in tmp_path.iterdir() if (p / "cowsay").exists()]
    out = subprocess.run(["sh", "-c", "cowsay 'two  words'"], capture_output=True, text=True, check=False, timeout=60,
                         env={**os.environ, "PATH": f"{shim_dir}:{os.environ['PATH']}"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == "< two words >" and out.stdout.splitlines()[-1] == WHALE_TAIL


def test_bad_tool_name_is_refused(tmp_path):
    images = ImageMap([("acme/*", HostImage(tools={"bin/x": ("true",)}))])
    with pytest.raises(ValueError, match="'bin/x' is not a program name"):
        images.with_tool_dir(tmp_path)


async def test_cowsay_in_a_shell_of_argosay_v1_but_not_v2(harness):
    """A pod's shell finds cowsay in argosay v1 (the whale, as whalesay's default cow); in v2: not found."""
    if shutil.which("cowsay"):
        pytest.skip("this host has its own cowsay on PATH, which v2 pods would find")
    async with harness() as h:
        await h.create(pod("v1", sh("main", "cowsay hello", image="argoproj/argosay:v1")))
        await h.create(pod("v2", sh("main", "cowsay hello", image="argoproj/argosay:v2")))
        v1, v2 = await h.finished("v1"), await h.finished("v2")
        assert v1["status"]["phase"] == "Succeeded", v1["status"]
        log = h.log("v1", "main").splitlines()
        assert log[:3] == [" _______", "< hello >", " -------"] and log[-1] == WHALE_TAIL
        assert v2["status"]["phase"] == "Failed"
        assert v2["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 127
        assert "not found" in h.log("v2", "main")
