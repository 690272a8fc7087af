"""Benchmark conventions shared by every group (`dag/`, `codec/`, `lang/`, ...).

Absolute times move 30-40% on a shared machine (reference/performance.md §5); ratios measured in
the same run, on the same data, hold to about ±20%. So:

* `pytest-benchmark` tests (the `benchmark` fixture) report absolute figures for the table in
  README.md; they are informative and never fail on speed.
* Gates are plain tests that time a baseline and a candidate themselves with `measure` (median of
  several runs, interleaved, in CPU time of this process: `time.process_time`, because the machine
  is shared and wall time also counts other people's work) and assert `gate(name, baseline, candidate,
  minimum=...)`. They work under `--benchmark-disable` and `--benchmark-skip` alike. Set the
  minimum at about half the ratio measured on the reference machine: a 2× regression fails,
  noise does not.
* Every figure passed to `record` (and every gate) is printed at the end of the session, so a
  plain `pytest benchmarks/` run yields the numbers for README.md.
"""
from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest

_FIGURES: list[tuple[str, str]] = []


def _time_once(fn: Callable[[Any], Any], setup: Callable[[], Any] | None) -> float:
    arg = setup() if setup is not None else None
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # the cyclic GC firing inside one run and not another is the main noise source
    try:
        start = time.process_time()
        fn(arg)
        return time.process_time() - start
    finally:
        if enabled:
            gc.enable()


def measure_all(*fns: Callable[[Any], Any], setups: tuple[Callable[[], Any] | None, ...] | None = None,
                repeat: int = 5) -> list[float]:
    """Median seconds of each `fn(setup())`, runs interleaved (fn1, fn2, fn1, fn2, ...) so that a
    slow patch of the machine hits every candidate alike. `setup` runs untimed before each run."""
    setups = setups or (None,) * len(fns)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            samples[i].append(_time_once(fn, setups[i]))
    return [statistics.median(s) for s in samples]


def _fmt(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.2f} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def _record(name: str, value: str) -> None:
    _FIGURES.append((name, value))


@pytest.fixture
def record() -> Callable[[str, str], None]:
    """`record(name, value)`: keep a figure for the end-of-session summary."""
    return _record


@pytest.fixture
def measure() -> Callable[..., list[float]]:
    """`measure(fn1, fn2, ..., setups=(s1, s2, ...), repeat=5)` → median seconds of each."""
    return measure_all


@pytest.fixture
def gate() -> Callable[..., float]:
    """`gate(name, baseline_s, candidate_s, minimum=k)`: assert candidate is ≥ k× faster; returns the ratio."""

    def check(name: str, baseline: float, candidate: float, *, minimum: float) -> float:
        ratio = baseline / candidate if candidate > 0 else float("inf")
        _record(f"gate {name}", f"{ratio:.1f}x (baseline {_fmt(baseline)}, candidate {_fmt(candidate)}, "
                               f"minimum {minimum}x)")
        assert ratio >= minimum, (f"{name}: {ratio:.1f}x faster than the baseline, below the gate of "
                                  f"{minimum}x ({_fmt(baseline)} vs {_fmt(candidate)})")
        return ratio

    return check


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("tiphys benchmark figures")
        for name, value in _FIGURES:
            terminalreporter.write_line(f"{name}: {value}")
