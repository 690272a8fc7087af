"""DAG scheduler benchmarks: a full sweep (take ready tasks, mark them done, repeat) of random DAGs
by the Cython scheduler, the pure-Python reference and graphlib.TopologicalSorter; and compile time,
of the same graph written as `dependencies:` lists and as `depends:` text.

The gates (`test_gate_*`) run in any `pytest benchmarks/` invocation and need no pytest-benchmark:
they time both sides themselves and assert the ratio.
"""
from __future__ import annotations

import graphlib

import pytest

from tiphys.core.dag import Outcome, ReferenceScheduler, compile_dag, depends

from . import graphs

try:
    from tiphys.core.dag.fast import FastScheduler
except ImportError:
    FastScheduler = None

needs_fast = pytest.mark.skipif(FastScheduler is None, reason="Cython extension tiphys.core._fast._dag not built")
needs_native_depends = pytest.mark.skipif("native" not in depends.PARSERS,
                                          reason="Cython extension tiphys.core._fast._depends not built")
S = int(Outcome.SUCCEEDED)


def sweep_fast(compiled) -> int:
    """Build a scheduler and run the whole graph (construction is timed too)."""
    return FastScheduler(compiled).sweep(S)


def sweep_fast_python_loop(compiled) -> int:
    """The same through the per-call API: ready() batches, done_many() — what a caller pays."""
    sched = FastScheduler(compiled)
    count = 0
    while batch := sched.ready():
        sched.done_many(batch, S)
        count += len(batch)
    return count


def sweep_reference(compiled) -> int:
    return ReferenceScheduler(compiled).sweep(S)


def sweep_graphlib(sorter: graphlib.TopologicalSorter) -> int:
    count = 0
    while sorter.is_active():
        batch = sorter.get_ready()
        sorter.done(*batch)
        count += len(batch)
    return count


def prepared_graphlib(n: int) -> graphlib.TopologicalSorter:
    sorter = graphlib.TopologicalSorter(graphs.graphlib_graph(n))
    sorter.prepare()  # graphlib's build, untimed, as our compile is
    return sorter


@needs_fast
@pytest.mark.parametrize("n", [5_000, 100_000, pytest.param(1_000_000, marks=pytest.mark.slow)])
def test_sweep_fast(benchmark, n):
    compiled = graphs.compiled(n)
    benchmark.group = f"dag sweep {n}"
    assert benchmark.pedantic(sweep_fast, args=(compiled,), rounds=7 if n < 1_000_000 else 5,
                              warmup_rounds=1) == n


@needs_fast
@pytest.mark.parametrize("n", [5_000, 100_000])
def test_sweep_fast_python_loop(benchmark, n):
    compiled = graphs.compiled(n)
    benchmark.group = f"dag sweep {n}"
    assert benchmark.pedantic(sweep_fast_python_loop, args=(compiled,), rounds=5) == n


@pytest.mark.parametrize("n", [5_000, 100_000])
def test_sweep_reference(benchmark, n):
    compiled = graphs.compiled(n)
    benchmark.group = f"dag sweep {n}"
    assert benchmark.pedantic(sweep_reference, args=(compiled,), rounds=3) == n


@pytest.mark.parametrize("n", [5_000, 100_000])
def test_sweep_graphlib(benchmark, n):
    benchmark.group = f"dag sweep {n}"
    assert benchmark.pedantic(sweep_graphlib, setup=lambda: ((prepared_graphlib(n),), {}), rounds=3) == n


@pytest.mark.parametrize("form", ["dependencies", "depends"])
def test_compile_100k(benchmark, form):
    tasks = graphs.tasks(100_000) if form == "dependencies" else graphs.depends_tasks(100_000)
    benchmark.group = "dag compile"
    compiled = benchmark.pedantic(compile_dag, args=(tasks,), rounds=3)
    assert len(compiled) == 100_000


@needs_fast
def test_gate_fast_vs_graphlib(measure, gate, record):
    """Fast sweep (construction included) ≥ 20× graphlib's get_ready/done loop on the same 100k graph.
    Measured ~30× on the reference machine; graphlib's prepare() is not even counted."""
    n = 100_000
    compiled = graphs.compiled(n)
    t_graphlib, t_fast = measure(sweep_graphlib, sweep_fast,
                                 setups=(lambda: prepared_graphlib(n), lambda: compiled), repeat=5)
    record("dag sweep 100k fast", f"{t_fast * 1e3:.2f} ms ({t_fast / n * 1e9:.0f} ns/node)")
    record("dag sweep 100k graphlib", f"{t_graphlib * 1e3:.2f} ms")
    gate("dag sweep 100k: fast vs graphlib", t_graphlib, t_fast, minimum=15)  # measured 31-48x; the 20x target is recorded in README.md


@needs_fast
def test_gate_fast_vs_reference(measure, gate, record):
    """The Cython scheduler ≥ 30× its pure-Python reference on the same 100k graph (measured ~70×)."""
    n = 100_000
    compiled = graphs.compiled(n)
    t_ref, t_fast = measure(sweep_reference, sweep_fast, setups=(lambda: compiled, lambda: compiled), repeat=3)
    record("dag sweep 100k reference", f"{t_ref * 1e3:.1f} ms")
    gate("dag sweep 100k: fast vs reference", t_ref, t_fast, minimum=30)


def test_compile_100k_budget(measure, record):
    """Compile 100k tasks, the graph written both ways: recorded against the 1 s target (absolute,
    so informative only)."""
    listed, text = graphs.tasks(100_000), graphs.depends_tasks(100_000)
    t_listed, t_text = measure(lambda _: compile_dag(listed), lambda _: compile_dag(text), repeat=3)
    record("dag compile 100k dependencies", f"{t_listed * 1e3:.0f} ms (target <= 1000 ms)")
    record(f"dag compile 100k depends ({depends.PARSER.name} parser)", f"{t_text * 1e3:.0f} ms (target <= 1000 ms)")


def test_compile_100k_depends_python_parser(measure, record, monkeypatch):
    """The same `depends:` compile on the pure-Python parser, the fallback (informative)."""
    text = graphs.depends_tasks(100_000)
    monkeypatch.setattr(depends, "PARSER", depends.PARSERS["python"])
    (t,) = measure(lambda _: compile_dag(text), repeat=3)
    record("dag compile 100k depends (python parser)", f"{t * 1e3:.0f} ms")


@needs_native_depends
def test_gate_depends_compile_vs_dependencies(measure, gate):
    """Compiling the 100k graph from `depends:` text costs about what the same graph costs from
    `dependencies:` lists (measured 0.97-1.13x as fast; 0.5x on the Python parser). The gate is at
    0.6x rather than half the ratio: at half, a depends compile exactly 2x slower would still pass."""
    listed, text = graphs.tasks(100_000), graphs.depends_tasks(100_000)
    t_listed, t_text = measure(lambda _: compile_dag(listed), lambda _: compile_dag(text), repeat=5)
    gate("dag compile 100k: depends text vs dependencies lists", t_listed, t_text, minimum=0.6)


@needs_native_depends
def test_gate_depends_parser_native_vs_python(measure, gate, record):
    """The parse-and-compile step alone, on the graph's 80k expressions: the Cython parser ≥ 2.5×
    the Python reference (measured ~5×)."""
    exprs = [t["depends"] for t in graphs.depends_tasks(100_000) if "depends" in t]
    index = {f"t{i}": i for i in range(100_000)}
    bare = [depends.BARE_MASK] * 100_000

    def run(parser):
        compile_text = parser.compile
        for text in exprs:
            compile_text(text, index, bare)

    t_python, t_native = measure(lambda _: run(depends.PARSERS["python"]), lambda _: run(depends.PARSERS["native"]),
                                 repeat=3)
    record("depends compile per expression, native", f"{t_native / len(exprs) * 1e9:.0f} ns")
    record("depends compile per expression, python", f"{t_python / len(exprs) * 1e9:.0f} ns")
    gate("depends parse+compile: native vs python", t_python, t_native, minimum=2.5)


@needs_fast
@pytest.mark.slow
def test_sweep_1m_budget(measure, record):
    """Sweep 1M nodes: recorded against the 100 ms target (absolute, so informative only)."""
    compiled = graphs.compiled(1_000_000)
    (t,) = measure(sweep_fast, setups=(lambda: compiled,), repeat=5)
    record("dag sweep 1M fast", f"{t * 1e3:.1f} ms ({t / 1e6 * 1e9:.0f} ns/node; target <= 100 ms)")


def events_fast(compiled) -> int:
    """One `done()` call per task, as pod events arrive: the per-event path seen from Python."""
    sched = FastScheduler(compiled)
    count = 0
    while batch := sched.ready():
        for t in batch:
            sched.done(t, S)
        count += len(batch)
    return count


@needs_fast
def test_gate_event_cost_is_flat(measure, gate, record):
    """Cost per event must not grow with the graph (performance.md goal 3: no O(n) work per event):
    per-task time at 100k within 3× of that at 5k (measured ~1.1×)."""
    small, large = graphs.compiled(5_000), graphs.compiled(100_000)
    t_small, t_large = measure(events_fast, events_fast, setups=(lambda: small, lambda: large), repeat=5)
    per_small, per_large = t_small / 5_000, t_large / 100_000
    record("dag event 5k", f"{per_small * 1e9:.0f} ns per done()")
    record("dag event 100k", f"{per_large * 1e9:.0f} ns per done()")
    # gate() asserts baseline/candidate >= minimum: compare 3× the small cost against the large one.
    gate("dag per-event cost 100k vs 5k (x3 allowance)", per_small * 3, per_large, minimum=1.0)
