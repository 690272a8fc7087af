"""Random DAGs, outcomes and completion orders: the Cython scheduler must match the reference
step for step (same ready() batches, same omissions, same final phases), and both must match a
naive oracle that evaluates each task's `depends` tree directly (STYLE 9)."""
from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiphys.core.dag import Outcome, ReferenceScheduler, compile_dag
from tiphys.core.dag.depends import BARE_MASK, And, Not, Ref, parse_depends
from tiphys.core.dag.outcome import RESULT_NAMES

try:
    from tiphys.core.dag.fast import FastScheduler
except ImportError:
    FastScheduler = None

needs_fast = pytest.mark.skipif(FastScheduler is None, reason="Cython extension tiphys.core._fast._dag not built")

S, F, E, SK, O, D = (int(x) for x in (Outcome.SUCCEEDED, Outcome.FAILED, Outcome.ERRORED,
                                      Outcome.SKIPPED, Outcome.OMITTED, Outcome.DAEMONED))
ANY, ALL = int(Outcome.ANY_SUCCEEDED), int(Outcome.ALL_FAILED)
RESULTS = list(RESULT_NAMES)


def _expr(rng: random.Random, deps: list[str], depth: int = 0) -> str:
    """A random depends expression using every name in `deps` at least once."""
    if len(deps) == 1 and (depth > 2 or rng.random() < 0.6):
        name = deps[0]
        atom = name if rng.random() < 0.4 else f"{name}.{rng.choice(RESULTS)}"
        return f"!{atom}" if rng.random() < 0.15 else atom
    if len(deps) == 1:
        deps = deps + [rng.choice(deps)]
    cut = rng.randint(1, len(deps) - 1)
    op = rng.choice([" && ", " || "])
    text = _expr(rng, deps[:cut], depth + 1) + op + _expr(rng, deps[cut:], depth + 1)
    return f"!({text})" if rng.random() < 0.1 else f"({text})"


def make_graph(seed: int, n: int, *, depends: bool, max_deps: int = 3):
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        spec = {"name": f"t{i}"}
        k = rng.randint(0, min(i, max_deps))
        deps = [f"t{j}" for j in rng.sample(range(i), k)] if k else []
        if deps:
            if depends:
                spec["depends"] = _expr(rng, deps)
            else:
                spec["dependencies"] = deps
        if rng.random() < 0.15:
            spec["continueOn"] = {"failed": rng.random() < 0.7, "error": rng.random() < 0.5}
        if rng.random() < 0.1:
            spec["withItems"] = [1, 2]
        tasks.append(spec)
    return tasks


def make_outcomes(seed: int, tasks) -> list[int]:
    rng = random.Random(seed ^ 0x5EED)
    out = []
    for spec in tasks:
        o = rng.choices([S, F, E, SK, D, D | S], weights=[60, 10, 6, 8, 3, 3])[0]
        if "withItems" in spec and o & (S | F) and rng.random() < 0.7:
            o |= ANY if (o & S or rng.random() < 0.5) else ALL
        out.append(o)
    return out


def drive(impl, compiled, outcomes, seed, *, fail_fast, parallelism, targets, restore_at):
    """Run one scheduler with choices drawn from `seed`; return the full trace."""
    rng = random.Random(seed)
    sched = impl(compiled, fail_fast=fail_fast, parallelism=parallelism, targets=targets)
    trace = []
    running: list[int] = []
    steps = 0
    while True:
        batch = sched.ready()
        trace.append(("ready", batch, sched.is_active()))
        running += batch
        if not running:
            break
        k = rng.randint(1, len(running))
        rng.shuffle(running)
        finished, running = running[:k], running[k:]
        if rng.random() < 0.3:
            sched.done_many(finished, [outcomes[t] for t in finished])
        else:
            for t in finished:
                sched.done(t, outcomes[t])
        trace.append(("omitted", sched.take_omitted(), sched.halted, sched.phase()))
        steps += 1
        if steps == restore_at:
            # A controller restart: a fresh scheduler rebuilt from what the status would show.
            known = {t: o for t, o in enumerate(sched.outcomes()) if o}
            sched = impl(compiled, fail_fast=fail_fast, parallelism=parallelism, targets=targets)
            sched.restore(known, running=sorted(running))
            trace.append(("restored", sched.take_omitted(), sched.is_active()))
    assert not sched.is_active()
    trace.append(("final", sched.outcomes(), sched.halted, sched.phase()))
    return trace


def _truth(tree, value, bare):
    if isinstance(tree, Ref):
        mask = bare[tree.task] if tree.result is None else RESULT_NAMES[tree.result]
        return bool(value[tree.task] & mask)
    if isinstance(tree, Not):
        return not _truth(tree.operand, value, bare)
    left = _truth(tree.left, value, bare)
    return (left and _truth(tree.right, value, bare)) if isinstance(tree, And) else \
        (left or _truth(tree.right, value, bare))


def oracle(tasks, outcomes, targets):
    """Final phases, which no order of completion can change: evaluate every in-scope task's tree in
    index order (dependencies always come earlier in make_graph)."""
    deps_of = {}
    bare = {}
    for spec in tasks:
        cont = spec.get("continueOn") or {}
        bare[spec["name"]] = BARE_MASK | (F if cont.get("failed") else 0) | (E if cont.get("error") else 0)
        if "depends" in spec:
            deps_of[spec["name"]] = parse_depends(spec["depends"])
        elif spec.get("dependencies"):
            tree = Ref(spec["dependencies"][0])
            for name in spec["dependencies"][1:]:
                tree = And(tree, Ref(name))
            deps_of[spec["name"]] = tree
    scope = set()
    stack = list(targets) if targets is not None else [s["name"] for s in tasks]
    refs = {s["name"]: [] for s in tasks}
    for name, tree in deps_of.items():
        todo = [tree]
        while todo:
            cur = todo.pop()
            if isinstance(cur, Ref):
                refs[name].append(cur.task)
            elif isinstance(cur, Not):
                todo.append(cur.operand)
            else:
                todo += [cur.left, cur.right]
    while stack:
        name = stack.pop()
        if name not in scope:
            scope.add(name)
            stack += refs[name]
    value = {}
    for i, spec in enumerate(tasks):
        name = spec["name"]
        if name not in scope:
            value[name] = 0
        elif name not in deps_of or _truth(deps_of[name], value, bare):
            value[name] = outcomes[i]
        else:
            value[name] = O
    return [value[s["name"]] for s in tasks]


def oracle_phase(tasks, final, targets, *, fail_fast):
    """The DAG phase recomputed from scratch from the final outcomes (§5.5 steps 3-4)."""
    names = [t["name"] for t in tasks]
    index = {n: i for i, n in enumerate(names)}
    deps = []
    for spec in tasks:
        if "depends" in spec:
            refs = []
            todo = [parse_depends(spec["depends"])]
            while todo:
                cur = todo.pop()
                if isinstance(cur, Ref):
                    refs.append(index[cur.task])
                elif isinstance(cur, Not):
                    todo.append(cur.operand)
                else:
                    todo += [cur.left, cur.right]
            deps.append(set(refs))
        else:
            deps.append({index[d] for d in spec.get("dependencies") or ()})
    completed = S | F | E
    branch = []
    for i, o in enumerate(final):
        if o & completed:
            branch.append(o & completed)
            continue
        inherited = [branch[j] for j in deps[i]]
        best = next((bit for bit in (E, F, S) if any(b & bit for b in inherited)), 0)
        branch.append(best or o)
    if targets is None:
        has_succ = {j for d in deps for j in d}
        order = sorted((i for i in range(len(tasks)) if i not in has_succ), key=names.__getitem__)
    else:
        order = list(dict.fromkeys(index[t] for t in targets))
    result = "Succeeded"
    for t in order:
        cont = tasks[t].get("continueOn") or {}
        if not final[t]:
            result = "Running"
            if not fail_fast:
                break
            continue
        b = branch[t]
        if (b & F and not cont.get("failed")) or (b & E and not cont.get("error")):
            result = "Error" if b & E else "Failed"
            if fail_fast:
                break
    return result


graphs = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "depends": st.booleans(),
    "fail_fast": st.booleans(),
    "parallelism": st.sampled_from([0, 0, 1, 2, 5]),
    "targets": st.sampled_from([None, None, 1, 3]),
    "restore_at": st.sampled_from([0, 0, 1, 3, 10]),
})


def _targets(seed, n, count):
    if count is None:
        return None
    rng = random.Random(seed ^ 0x7A6)
    return [f"t{i}" for i in rng.sample(range(n), min(count, n))]


def _check(params, n):
    tasks = make_graph(params["seed"], n, depends=params["depends"])
    compiled = compile_dag(tasks)
    outcomes = make_outcomes(params["seed"], tasks)
    targets = _targets(params["seed"], n, params["targets"])
    kwargs = dict(fail_fast=params["fail_fast"], parallelism=params["parallelism"], targets=targets,
                  restore_at=params["restore_at"])
    ref = drive(ReferenceScheduler, compiled, outcomes, params["seed"], **kwargs)
    if FastScheduler is not None:
        fast = drive(FastScheduler, compiled, outcomes, params["seed"], **kwargs)
        assert fast == ref
    final = ref[-1][1]
    assert final == oracle(tasks, outcomes, targets)
    assert ref[-1][3] == oracle_phase(tasks, final, targets, fail_fast=params["fail_fast"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=graphs, n=st.integers(1, 120))
def test_small_random_dags(params, n):
    """Small graphs, many shapes: implementations agree with each other and with the oracle."""
    _check(params, n)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=graphs, n=st.integers(2_000, 10_000))
def test_large_random_dags(params, n):
    """Up to 10,000 nodes."""
    _check(params, n)


@needs_fast
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3_000), depends=st.booleans(),
       fail_fast=st.booleans(), parallelism=st.sampled_from([0, 3]))
def test_sweep_matches_ready_done_loop(seed, n, depends, fail_fast, parallelism):
    """`sweep` (a C loop in the fast one) equals the batch-by-batch loop of the reference."""
    tasks = make_graph(seed, n, depends=depends)
    compiled = compile_dag(tasks)
    outcomes = make_outcomes(seed, tasks)
    ref = ReferenceScheduler(compiled, fail_fast=fail_fast, parallelism=parallelism)
    count = 0
    while batch := ref.ready():
        for t in batch:
            ref.done(t, outcomes[t])
        count += len(batch)
    fast = FastScheduler(compiled, fail_fast=fail_fast, parallelism=parallelism)
    assert fast.sweep(outcomes) == count
    assert fast.outcomes() == ref.outcomes() and fast.take_omitted() == ref.take_omitted()


@needs_fast
@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 12), fail_fast=st.booleans(),
       parallelism=st.sampled_from([0, 1, 2]), restore_at=st.sampled_from([0, 1, 2, 5]))
def test_random_steps_templates(seed, groups, fail_fast, parallelism, restore_at):
    """Steps templates (halting on failed steps, groups, continueOn, loops): both agree step by step."""
    from tiphys.core.dag import compile_steps
    rng = random.Random(seed)
    body = []
    for g in range(groups):
        group = []
        for k in range(rng.randint(0, 4)):
            step = {"name": f"s{g}-{k}"}
            if rng.random() < 0.2:
                step["continueOn"] = {"failed": rng.random() < 0.7, "error": rng.random() < 0.5}
            if rng.random() < 0.1:
                step["withItems"] = [1]
            group.append(step)
        body.append(group)
    compiled = compile_steps(body)
    outcomes = make_outcomes(seed, [s for g in body for s in g])
    kwargs = dict(fail_fast=fail_fast, parallelism=parallelism, targets=None, restore_at=restore_at)
    assert drive(FastScheduler, compiled, outcomes, seed, **kwargs) == \
        drive(ReferenceScheduler, compiled, outcomes, seed, **kwargs)
