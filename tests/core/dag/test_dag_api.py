"""The package façade and the outcome helpers."""
from __future__ import annotations

import subprocess
import sys

import pytest

import tiphys.core.dag as dag
from tiphys.core.dag import Outcome, from_phase
from tiphys.core.dag.outcome import check_outcome


def test_all_names_exist():
    assert set(dag.__all__) <= set(dir(dag))
    assert dag.Scheduler is (dag.fast.FastScheduler if dag.FAST else dag.ReferenceScheduler)


@pytest.mark.parametrize("phase, flags, expected", [
    ("Succeeded", {}, Outcome.SUCCEEDED),
    ("Error", {}, Outcome.ERRORED),
    ("Omitted", {}, Outcome.OMITTED),
    ("Running", {"daemoned": True}, Outcome.DAEMONED),
    ("Succeeded", {"daemoned": True}, Outcome.DAEMONED | Outcome.SUCCEEDED),
    ("Failed", {"any_succeeded": True}, Outcome.FAILED | Outcome.ANY_SUCCEEDED),
    ("Failed", {"all_failed": True}, Outcome.FAILED | Outcome.ALL_FAILED),
])
def test_from_phase(phase, flags, expected):
    """Argo node phases (note `Error`, not `Errored`) map onto outcome bits."""
    assert from_phase(phase, **flags) == expected


@pytest.mark.parametrize("phase", ["Running", "Pending", "", "Errored"])
def test_from_phase_rejects_unfinished(phase):
    with pytest.raises(ValueError):
        from_phase(phase)


def test_check_outcome():
    assert check_outcome(int(Outcome.SUCCEEDED), group=False) is None
    assert check_outcome(int(Outcome.DAEMONED), group=False) is None
    assert "loop group" in check_outcome(int(Outcome.SUCCEEDED | Outcome.ANY_SUCCEEDED), group=False)
    assert check_outcome(int(Outcome.FAILED | Outcome.ANY_SUCCEEDED), group=True) is None


def test_usage_example():
    """The README example, verbatim."""
    from tiphys.core.dag import Outcome, Scheduler, compile_dag

    compiled = compile_dag([
        {"name": "build"},
        {"name": "test", "depends": "build"},
        {"name": "notify-failure", "depends": "build.Failed || test.Failed"},
        {"name": "publish", "depends": "test.Succeeded"},
    ])
    sched = Scheduler(compiled)                     # fail-fast, like Argo's DAG default
    started = []
    while batch := sched.ready():                   # indices of tasks to start now
        for task in batch:
            started.append(compiled.names[task])
            sched.done(task, Outcome.SUCCEEDED)     # report the node phase when it ends
    omitted = [compiled.names[t] for t in sched.take_omitted()]
    assert started == ["build", "test", "publish"] and omitted == ["notify-failure"]


def test_fallback_warns_once_when_extension_is_missing():
    """Without the extension the package still imports, on the reference, with one warning."""
    code = (
        "import sys, warnings\n"
        "sys.modules['tiphys.core._fast._dag'] = None\n"  # makes the import fail
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    import tiphys.core.dag as d\n"
        "    import tiphys.core.dag\n"
        "print(d.FAST, d.Scheduler.__name__, len([x for x in w if 'reference' in str(x.message)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "ReferenceScheduler", "1"]
