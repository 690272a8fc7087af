"""Node IDs, pod names and node names, against golden values (argo-semantics §4.2-4.4)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import argo_path
from tiphys.core.status import ids
from tiphys.core.status.ids import PodNameVersion

# -- FNV-1a 32 ---------------------------------------------------------------------------------
#
# Derivation by hand of fnv1a32("a") (offset 0x811c9dc5, prime 0x01000193 = 2**24 + 0x193):
#   h = 0x811c9dc5 ^ 0x61                      = 0x811c9da4 (2166136228)
#   h * 0x193   = 2166136228 * 403             = 872952899884 ≡ 0x400c292c (mod 2**32)
#   h << 24     ≡ 0xa4000000 (mod 2**32)
#   sum         = 0x400c292c + 0xa4000000      = 0xe40c292c = 3826002220
# The empty string hashes to the offset basis. The others are the published FNV-1a test vectors.
FNV_VECTORS = [
    pytest.param("", 0x811C9DC5, id="empty"),
    pytest.param("a", 0xE40C292C, id="a"),
    pytest.param("foobar", 0xBF9CF968, id="foobar"),
]


@pytest.mark.parametrize(("text", "expected"), FNV_VECTORS)
def test_fnv1a32_vectors(text, expected):
    """fnv1a32 matches the FNV-1a 32-bit reference vectors."""
    assert ids.fnv1a32(text) == expected
    assert ids.fnv1a32(text.encode()) == expected


def test_fnv_hashes_utf8_bytes():
    """Non-ASCII names hash their UTF-8 bytes, as Go does."""
    assert ids.fnv1a32("é") == ids.fnv1a32(b"\xc3\xa9") != ids.fnv1a32(b"\xe9")


def test_ids_derived_by_hand():
    """With fnv1a32("a") = 3826002220 (derived above): ID, v2 and v1 pod names of node "a" of wf "w"."""
    assert ids.node_id("w", "a") == "w-3826002220"
    assert ids.pod_name("w", "a", "t") == "w-t-3826002220"
    assert ids.pod_name("w", "a", "") == "w-3826002220"          # inline template: no name
    assert ids.pod_name("w", "a", "t", version=PodNameVersion.V1) == "w-3826002220"
    assert ids.node_id("w", "w") == ids.pod_name("w", "w", "t") == "w"  # the root is the workflow


# -- the worked example of argo-semantics §4.2 ------------------------------------------------------
#
# Workflow demo-x7k2p, steps template `main`: group 0 `prep` (echo), group 1 `fan` over [a, b]
# (echo) and `check` (flaky, retried), onExit `notify`. Names by the §4.2 rules; ID = wf-fnv(name);
# pod name = wf-<template>-fnv(name), i.e. the ID's number behind the template name.
DEMO = "demo-x7k2p"
DEMO_TABLE = [
    # name                       ID suffix     template
    (DEMO,                       None,         None),
    (f"{DEMO}[0]",               3203355795,   None),
    (f"{DEMO}[0].prep",          4245076944,   "echo"),
    (f"{DEMO}[1]",               49413686,     None),
    (f"{DEMO}[1].fan(0:a)",      3679170335,   "echo"),
    (f"{DEMO}[1].fan(1:b)",      2915327789,   "echo"),
    (f"{DEMO}[1].check",         1599977072,   None),
    (f"{DEMO}[1].check(0)",      2474289683,   "flaky"),
    (f"{DEMO}[1].check(1)",      3078431062,   "flaky"),
    (f"{DEMO}.onExit",           1468038654,   "notify"),
]


@pytest.mark.parametrize(("name", "suffix", "template"), DEMO_TABLE, ids=[r[0] for r in DEMO_TABLE])
def test_reference_worked_example(name, suffix, template):
    """IDs and pod names of the §4.2 worked example."""
    expected_id = DEMO if suffix is None else f"{DEMO}-{suffix}"
    assert ids.node_id(DEMO, name) == expected_id
    if template:
        assert ids.pod_name(DEMO, name, template) == f"{DEMO}-{template}-{suffix}"
        assert ids.pod_name(DEMO, name, template, version=PodNameVersion.V1) == expected_id


def test_worked_example_names_follow_the_rules():
    """The name builders produce the example's names."""
    main = DEMO
    g0, g1 = ids.step_group_name(main, 0), ids.step_group_name(main, 1)
    assert ids.step_name(g0, "prep") == f"{DEMO}[0].prep"
    fan = ids.step_name(g1, "fan")
    assert [ids.loop_child_name(fan, i, d) for i, d in enumerate("ab")] == [f"{DEMO}[1].fan(0:a)",
                                                                           f"{DEMO}[1].fan(1:b)"]
    check = ids.step_name(g1, "check")
    assert ids.retry_child_name(check, 1) == f"{DEMO}[1].check(1)"
    assert ids.exit_handler_name(main) == f"{DEMO}.onExit"


# A real Argo status quoted in the reference: a DAG with a retried task C.
DAG_WF = "dag-disable-fail-fast-r6xdc"


@pytest.mark.parametrize(("name", "suffix"), [
    ("A", 3928436299), ("B", 3945213918), ("C", 3961991537), ("C(0)", 3256495944), ("C(1)", 3457680277)])
def test_reference_real_status(name, suffix):
    """IDs of a real Argo DAG status (`wf.A`, retry attempts `wf.C(0)`)."""
    assert ids.node_id(DAG_WF, f"{DAG_WF}.{name}") == f"{DAG_WF}-{suffix}"


def test_examples_pod_names_from_argo_output():
    """Pod names printed in Argo's examples/template-on-exit.yaml (v1 format: pod name = node ID)."""
    text = argo_path("examples", "template-on-exit.yaml").read_text()
    rows = re.findall(r"^#\s+\S+ (step[AB]) +\S+ +(container-on-exit-fp8r5-\d+)", text, re.M)
    assert len(rows) == 2, rows
    # The `stepA.onExit` rows of that (older) output match none of the names we tried under the
    # §4.2 rules (`wf[0].stepA.onExit`, `wf.stepA.onExit`, `...hooks.exit`, ...): Argo's hook naming
    # changed since. Only the two step rows are golden here.
    for group, (step, pod) in enumerate(rows):
        name = f"container-on-exit-fp8r5[{group}].{step}"
        assert ids.pod_name("container-on-exit-fp8r5", name, "hello-world", version=PodNameVersion.V1) == pod


# -- pod names --------------------------------------------------------------------------------------

def test_pod_name_prefix_truncated_to_242():
    """A long wf+template prefix is cut to 242 characters before `-<hash>` (≤ 253 in all)."""
    wf, template = "w" * 200, "t" * 100
    name = f"{wf}.x"
    pod = ids.pod_name(wf, name, template)
    assert pod == (f"{wf}-{template}")[:242] + f"-{ids.fnv1a32(name)}"
    assert len(pod) <= 253
    exact = "p" * 242
    assert ids.pod_name(exact, f"{exact}.y") == f"{exact}-{ids.fnv1a32(exact + '.y')}"


def test_pod_name_template_ref_wins():
    """Through a templateRef the pod is named after the referenced template."""
    assert ids.template_name_for_pod("local", "remote") == "remote"
    assert ids.template_name_for_pod("local", None) == "local"
    assert ids.template_name_for_pod(None, None) == ""


@pytest.mark.parametrize(("annotation", "version"), [
    ("v1", PodNameVersion.V1), ("v2", PodNameVersion.V2), (None, PodNameVersion.V2), ("v3", PodNameVersion.V2)])
def test_pod_name_version_annotation(annotation, version):
    """Only "v1" selects v1; anything else is v2 (Argo's default)."""
    assert ids.pod_name_version(annotation) is version


def test_agent_pod_name():
    """The agent pod: `<wf>-<fnv1a32("agent")>-agent`."""
    assert ids.agent_pod_name("wf") == f"wf-{ids.fnv1a32('agent')}-agent"


# -- node names and display names ---------------------------------------------------------------------

def test_name_builders():
    """Every §4.2 naming rule."""
    assert ids.task_name("wf", "t") == "wf.t"
    assert ids.loop_child_name("wf.t", 2, "x") == "wf.t(2:x)"
    assert ids.loop_child_name("wf.t", 0, "f(a)(b)") == "wf.t(0:fab)"  # parentheses removed
    assert ids.retry_child_name("wf[1].fan(0:a)", 1) == "wf[1].fan(0:a)(1)"
    assert ids.exit_handler_name("wf[0].prep") == "wf[0].prep.onExit"
    assert ids.hook_name("wf", "running") == "wf.hooks.running"
    assert ids.container_name("wf.pod", "main") == "wf.pod.main"


@pytest.mark.parametrize(("name", "boundary", "shown"), [
    ("wf", None, "wf"),
    ("wf[0]", "wf", "[0]"),
    ("wf[0].prep", "wf", "prep"),
    ("wf.A", "wf", "A"),
    ("wf[1].fan(0:a)", "wf", "fan(0:a)"),
    ("wf[1].check(0)", "wf", "check(0)"),
    ("wf[0].prep.onExit", "wf", "prep.onExit"),
    ("wf.onExit", None, "wf.onExit"),
    ("wf.inner[12].x", "wf.inner", "x"),
    ("wf[x].a", "wf", "[x].a"),       # not `[digits].`: nothing trimmed
    ("wf[٣].a", "wf", "[٣].a"),       # Go's \d is ASCII only
    ("other.a", "wf", "other.a"),     # not under its boundary: full name
])
def test_display_name(name, boundary, shown):
    """displayName: boundary name cut off, then one leading `[i].` or `.` (§4.5)."""
    assert ids.display_name(name, boundary) == shown
