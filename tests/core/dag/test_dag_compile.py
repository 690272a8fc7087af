"""compile_dag / compile_steps: dense ints, CSR arrays, programs, and typed errors naming the place.

Tests taking `parser` run with each depends parser (pure Python and Cython) installed."""
from __future__ import annotations

from array import array

import pytest
import yaml

from tests.conftest import argo_examples, argo_path
from tiphys.core.dag import (CycleError, DagError, DependsSyntaxError, DuplicateTaskError, InvalidTaskNameError,
                             MixedDependsError, SelfDependencyError, TaskSpec, UnknownDependencyError,
                             compile_dag, compile_steps)
from tiphys.core.dag.compile import (FLAG_BARE_CONJUNCTION, FLAG_CONJUNCTION, FLAG_CONTINUE_ERROR,
                                     FLAG_CONTINUE_FAILED, FLAG_GROUP)


def test_diamond_layout(parser):
    """Names map to indices in order; successors and predecessors are CSR int32 arrays."""
    c = compile_dag([{"name": "A"}, {"name": "B", "dependencies": ["A"]},
                     {"name": "C", "dependencies": ["A"]}, {"name": "D", "dependencies": ["B", "C"]}])
    assert c.names == ("A", "B", "C", "D") and c.index == {"A": 0, "B": 1, "C": 2, "D": 3}
    assert all(isinstance(a, array) and a.typecode == "i" for a in
               (c.succ_off, c.succ, c.pred_off, c.pred, c.prog_off, c.prog, c.flags, c.topo))
    assert [c.successors(i) for i in range(4)] == [[1, 2], [3], [3], []]
    assert [c.dependencies(i) for i in range(4)] == [[], [0], [0], [1, 2]]
    assert list(c.topo) == [0, 1, 2, 3]
    assert c.program(0) == [] and c.max_stack == 2
    assert len(c) == 4 and c.task_index("D") == 3


def test_conjunctions_get_edge_masks(parser):
    """Pure `&&` of distinct dependencies is flagged, with each edge carrying its predicate's mask."""
    c = compile_dag([{"name": "a", "continueOn": {"error": True}}, {"name": "b"},
                     {"name": "c", "depends": "a && b.Failed"}, {"name": "d", "depends": "a || b"},
                     {"name": "e", "depends": "a && a.Failed"}, {"name": "f", "depends": "!a"}])
    conj = [bool(f & FLAG_CONJUNCTION) for f in c.flags]
    assert conj == [False, False, True, False, False, False]
    assert not any(f & FLAG_BARE_CONJUNCTION for f in c.flags)  # c has `b.Failed`, not bare
    bare = compile_dag([{"name": "a"}, {"name": "b"}, {"name": "c", "depends": "a && (b)"}])
    assert [bool(f & FLAG_BARE_CONJUNCTION) for f in bare.flags] == [False, False, True]
    listed = compile_dag([{"name": "a"}, {"name": "b", "dependencies": ["a"]}])
    assert listed.flags[1] & FLAG_BARE_CONJUNCTION
    edges = {(c.names[src], c.names[c.succ[k]]): c.succ_mask[k]
             for src in range(len(c)) for k in range(c.succ_off[src], c.succ_off[src + 1])}
    assert edges[("a", "c")] == 1 | 8 | 32 | 4 and edges[("b", "c")] == 2
    assert edges[("a", "d")] == 0


def test_duplicate_dependency_counted_once(parser):
    """`a || a.Failed` has one dependency edge, not two."""
    c = compile_dag([{"name": "a"}, {"name": "b", "depends": "a || a.Failed"}])
    assert c.dependencies(1) == [0] and c.successors(0) == [1]


def test_flags_from_argo_shape_and_from_structs():
    """continueOn and loops (withItems/withParam/withSequence) become flags, from dicts or TaskSpec."""
    c = compile_dag([
        {"name": "a", "continueOn": {"failed": True}},
        {"name": "b", "continueOn": {"error": True}, "withParam": "{{x}}"},
        TaskSpec(name="c", loop=True, continue_on_failed=True, continue_on_error=True),
        {"name": "d", "withItems": [1, 2]},
    ])
    assert list(c.flags) == [FLAG_CONTINUE_FAILED, FLAG_CONTINUE_ERROR | FLAG_GROUP,
                             FLAG_CONTINUE_FAILED | FLAG_CONTINUE_ERROR | FLAG_GROUP, FLAG_GROUP]


def test_attribute_objects_are_accepted(parser):
    """Objects shaped like tiphys.core.spec's DAGTask (snake_case attributes) compile too."""
    class ContinueOn:
        failed, error = True, None

    class Task:
        def __init__(self, name, depends=None):
            self.name, self.depends, self.dependencies = name, depends, None
            self.continue_on = ContinueOn() if name == "a" else None
            self.with_items = self.with_param = self.with_sequence = None
    c = compile_dag([Task("a"), Task("b", "a")])
    assert list(c.flags) == [FLAG_CONTINUE_FAILED, FLAG_CONJUNCTION | FLAG_BARE_CONJUNCTION]
    assert c.dependencies(1) == [0]


@pytest.mark.parametrize("tasks, error, path, fragment", [
    pytest.param([{"name": "a"}, {"name": "a"}], DuplicateTaskError, "tasks[1].name", "'a'", id="duplicate"),
    pytest.param([{"name": "a_b"}], InvalidTaskNameError, "tasks[0].name", "'a_b'", id="underscore-name"),
    pytest.param([{"name": "-a"}], InvalidTaskNameError, "tasks[0].name", "'-a'", id="dash-start"),
    pytest.param([{"name": "a", "depends": "a"}], SelfDependencyError, "tasks[0].depends", "'a'", id="self"),
    pytest.param([{"name": "a", "dependencies": ["a"]}], SelfDependencyError, "tasks[0].dependencies", "'a'",
                 id="self-list"),
    pytest.param([{"name": "a"}, {"name": "b", "depends": "a && zz.Failed"}], UnknownDependencyError,
                 "tasks[1].depends", "'zz'", id="unknown"),
    pytest.param([{"name": "a"}, {"name": "b", "depends": "a and a"}], DependsSyntaxError,
                 "tasks[1].depends", "column 3", id="word-operators"),
    pytest.param([{"name": "a"}, {"name": "b", "dependencies": ["a"]}, {"name": "c", "depends": "a"}],
                 MixedDependsError, "tasks[2]", "'c'", id="mixed"),
    pytest.param([{"depends": "a"}], DagError, "tasks[0].name", "no name", id="no-name"),
    pytest.param([{"name": "a", "dependencies": "b"}], DagError, "tasks[0].dependencies", "list", id="deps-str"),
    pytest.param([{"name": "a"}, {"name": "b", "dependencies": ["a", 3]}], DagError, "tasks[1].dependencies",
                 "got 3", id="deps-int"),
    pytest.param([{"name": "a"}, {"name": "b", "dependencies": [["a"]]}], DagError, "tasks[1].dependencies",
                 "got ['a']", id="deps-unhashable"),
    pytest.param([{"name": "a"}, {"name": "b", "dependencies": ["b", "zz"]}], SelfDependencyError,
                 "tasks[1].dependencies", "'b'", id="self-before-unknown-list"),
    pytest.param([{"name": "a"}, {"name": "b", "dependencies": ["zz", "b"]}], UnknownDependencyError,
                 "tasks[1].dependencies", "'zz'", id="unknown-before-self-list"),
    pytest.param([{"name": "a"}, {"name": "b", "depends": "(b.Failed || a) && zz"}], SelfDependencyError,
                 "tasks[1].depends", "'b'", id="self-before-unknown"),
    pytest.param([{"name": "a"}, {"name": "b", "depends": "!zz || b"}], UnknownDependencyError,
                 "tasks[1].depends", "'zz'", id="unknown-before-self"),
    pytest.param([{"name": "a"}, {"name": "b", "depends": "a && (a.Bogus || zz)"}], DependsSyntaxError,
                 "tasks[1].depends", "column 9", id="syntax-before-unknown"),
])
def test_bad_input(parser, tasks, error, path, fragment):
    """Every bad input is a typed ValueError subclass naming the field and the task."""
    with pytest.raises(error) as info:
        compile_dag(tasks)
    assert isinstance(info.value, ValueError)
    assert info.value.path == path and fragment in str(info.value)


def test_cycle_is_named_like_graphlib(parser):
    """CycleError lists the cycle in run order, first task repeated last."""
    with pytest.raises(CycleError) as info:
        compile_dag([{"name": "x"}, {"name": "a", "depends": "c && x"}, {"name": "b", "depends": "a"},
                     {"name": "c", "depends": "b.Failed"}, {"name": "d", "depends": "c"}], path="$.dag.tasks")
    cycle = info.value.cycle
    assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == ["a", "b", "c"]
    deps = {"a": {"c", "x"}, "b": {"a"}, "c": {"b"}}
    assert all(cycle[i] in deps[cycle[i + 1]] for i in range(len(cycle) - 1))
    assert info.value.path == "$.dag.tasks" and " -> ".join(cycle) in str(info.value)


def test_steps_groups_depend_on_previous_group():
    """Each step depends on every step of the previous non-empty group; empty groups are skipped."""
    c = compile_steps([[{"name": "a"}, {"name": "b", "continueOn": {"failed": True}}], [],
                       [{"name": "c"}, {"name": "d"}], [{"name": "e"}]])
    assert c.halt_on_failure
    assert [c.dependencies(i) for i in range(5)] == [[], [], [0, 1], [0, 1], [2, 3]]


def test_steps_errors():
    with pytest.raises(DuplicateTaskError) as info:
        compile_steps([[{"name": "a"}], [{"name": "a"}]])
    assert info.value.path == "steps[1].name"
    with pytest.raises(DagError):
        compile_steps([[{"name": "a", "depends": "x"}]])


def test_compile_100k_chain_depth_is_iterative():
    """A 20,000-long chain compiles (no recursion anywhere in compile)."""
    n = 20_000
    c = compile_dag([{"name": "t0"}] + [{"name": f"t{i}", "dependencies": [f"t{i - 1}"]} for i in range(1, n)])
    assert list(c.topo) == list(range(n))


def _dag_templates():
    for path in argo_examples():
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError:
            continue
        for doc in docs:
            spec = (doc or {}).get("spec") or {}
            for tmpl in spec.get("templates") or []:
                if tmpl.get("dag"):
                    yield path.name, tmpl["name"], "dag", tmpl["dag"].get("tasks") or []
                if tmpl.get("steps"):
                    yield path.name, tmpl["name"], "steps", tmpl["steps"]


def test_every_argo_example_compiles(parser):
    """Every DAG and steps template among Argo's examples compiles (they are all valid)."""
    argo_path("examples")
    seen = {"dag": 0, "steps": 0}
    for file, name, kind, body in _dag_templates():
        compiled = compile_dag(body) if kind == "dag" else compile_steps(body)
        assert len(compiled) > 0, (file, name)
        seen[kind] += 1
    assert seen["dag"] >= 20 and seen["steps"] >= 20, seen


def test_fast_link_matches_python_link():
    """The C linker (when built) gives the same CSR arrays and order as the Python one, cycles included."""
    import random
    from array import array

    from tiphys.core.dag import _link
    if _link.link is _link.link_python:
        pytest.skip("Cython extension tiphys.core._fast._dag not built")
    rng = random.Random(7)
    for n in (0, 1, 2, 50, 3000):
        for cyclic in (False, True):
            deps = [sorted(rng.sample(range(i), min(i, rng.randrange(4)))) for i in range(n)]
            if cyclic and n > 2:
                deps[1] = sorted(set(deps[1]) | {n - 1})
            pred_off = array("i", [0])
            for d in deps:
                pred_off.append(pred_off[-1] + len(d))
            pred = array("i", [j for d in deps for j in d])
            pmask = array("i", [rng.randrange(256) for _ in pred])
            assert _link.link(n, pred_off, pred, pmask) == _link.link_python(n, pred_off, pred, pmask)
    with pytest.raises(ValueError):
        _link.link(2, array("i", [0, 0, 1]), array("i", [5]), array("i", [0]))
