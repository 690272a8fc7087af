"""resources.limits.memory: enforced in a memory cgroup; the kernel's kill is reported as OOMKilled."""
from __future__ import annotations

import pytest

from tiphys.controller.nodeagent.cgroups import MemoryCgroups

from .conftest import needs_namespaces, pod, statuses


def _needs_cgroups() -> MemoryCgroups:
    needs_namespaces()
    cgroups, why = MemoryCgroups.detect()
    if cgroups is None:
        pytest.skip(f"memory cgroups unavailable here ({why}): limits are not enforced, OOMKilled never reported")
    return cgroups


async def test_memory_hog_is_oom_killed(harness):
    """A process that writes 300 MiB under a 64Mi limit is killed: exit 137, reason OOMKilled."""
    cgroups = _needs_cgroups()
    hog = {"name": "main", "image": "python:3.12", "command": ["python3", "-c", "b = b'x' * (300 * 2**20); print(len(b))"],
           "resources": {"limits": {"memory": "64Mi"}}}
    fine = {"name": "main", "image": "python:3.12", "command": ["python3", "-c", "b = b'x' * (8 * 2**20); print(len(b))"],
            "resources": {"limits": {"memory": "128Mi"}}}
    async with harness() as h:
        await h.create(pod("hog", hog))
        await h.create(pod("fine", fine))
        p = await h.finished("hog")
        term = statuses(p)["main"]["state"]["terminated"]
        assert (p["status"]["phase"], term["exitCode"], term["reason"]) == ("Failed", 137, "OOMKilled")
        q = await h.finished("fine")
        assert q["status"]["phase"] == "Succeeded" and h.log("fine", "main") == f"{8 * 2**20}\n"
        assert not list(cgroups.parent.glob(f"tiphys-{p['metadata']['uid']}-*"))  # cleaned up


async def test_plain_sigkill_is_not_oom(harness):
    """Exit 137 without the OOM killer stays reason Error, even with a limit set."""
    _needs_cgroups()
    ctr = {"name": "main", "image": "busybox", "command": ["sh", "-c", "kill -9 $$$$"],
           "resources": {"limits": {"memory": "64Mi"}}}
    async with harness() as h:
        await h.create(pod("k9", ctr))
        p = await h.finished("k9")
        term = statuses(p)["main"]["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (137, "Error")
