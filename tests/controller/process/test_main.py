"""The command line, the log formats, and the real process: SIGTERM drains and releases the Lease."""
from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tiphys.controller import logs
from tiphys.controller.main import Options, own_namespace, parse_args


def test_defaults_match_argo():
    o = parse_args([])
    assert (o.workflow_workers, o.qps, o.burst, o.health_port) == (32, 20.0, 30, 6060)
    assert o.metrics_port is None  # the ConfigMap's metricsConfig.port (9090) decides
    assert o.leader_elect and (o.lease_duration, o.renew_deadline, o.retry_period) == (15.0, 10.0, 2.0)
    assert o.configmap == "workflow-controller-configmap" and o.namespace is None and o.embedded is None


def test_flags_parse_durations_and_switches():
    o = parse_args(["--namespace", "argo", "--no-leader-elect", "--lease-duration", "1m", "--renew-deadline",
                    "30s", "--retry-period", "500ms", "--embedded", "--sim-kubelet", "--log-format", "text",
                    "--workflow-workers", "4", "--metrics-port", "9191"])
    assert o.namespace == "argo" and not o.leader_elect
    assert (o.lease_duration, o.renew_deadline, o.retry_period) == (60.0, 30.0, 0.5)
    assert o.embedded == ":memory:" and o.sim_kubelet and o.log_format == "text"
    assert o.workflow_workers == 4 and o.metrics_port == 9191
    assert parse_args(["--embedded", "/tmp/x.db"]).embedded == "/tmp/x.db"


@pytest.mark.parametrize("argv, words", [
    pytest.param(["--lease-duration", "soon"], "invalid duration", id="bad-duration"),
    pytest.param(["--workflow-workers", "0"], "at least 1", id="no-workers"),
    pytest.param(["--lease-duration", "5s"], "greater than renew_deadline", id="lease-not-above-deadline"),
    pytest.param(["--sim-kubelet"], "needs --embedded", id="sim-without-embedded"),
    pytest.param(["--health-port", "70000"], "port out of range", id="port"),
    pytest.param(["--log-format", "xml"], "invalid choice", id="log-format"),
])
def test_bad_flags_exit_with_a_message(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2 and words in capsys.readouterr().err


def test_leader_election_disable_env(monkeypatch):
    monkeypatch.setenv("LEADER_ELECTION_DISABLE", "true")
    assert not parse_args([]).leader_elect


def test_own_namespace_falls_back_to_flag_then_default(monkeypatch, tmp_path):
    import tiphys.controller.main as main_mod
    monkeypatch.setattr(main_mod, "SA_NAMESPACE_FILE", tmp_path / "absent")
    assert own_namespace(Options(namespace="argo")) == "argo"
    assert own_namespace(Options()) == "default"
    (tmp_path / "ns").write_text("argo-system\n")
    monkeypatch.setattr(main_mod, "SA_NAMESPACE_FILE", tmp_path / "ns")
    assert own_namespace(Options(namespace="argo")) == "argo-system"


def _restore_root():
    root = logging.getLogger()
    return root, list(root.handlers), root.level


def test_json_logs_carry_extra_fields_and_errors():
    root, handlers, level = _restore_root()
    out = io.StringIO()
    try:
        counter = logs.configure(format="json", stream=out)
        logging.getLogger("tiphys.test").info("lease acquired %s", "now", extra={"lease": "argo/wc"})
        try:
            raise KeyError("boom")
        except KeyError:
            logging.getLogger("tiphys.test").exception("it broke")
        logging.getLogger("tiphys.test").debug("hidden")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["msg"] == "lease acquired now" and first["lease"] == "argo/wc"
    assert first["level"] == "info" and first["logger"] == "tiphys.test" and first["time"].endswith("Z")
    assert second["level"] == "error" and "KeyError: 'boom'" in second["error"]
    assert counter.counts == {"info": 1, "error": 1}


def test_text_logs_are_one_readable_line():
    root, handlers, level = _restore_root()
    out = io.StringIO()
    try:
        logs.configure(format="text", stream=out)
        logging.getLogger("tiphys.test").warning("key %r ignored", "sso", extra={"key": "sso"})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    line = out.getvalue().strip()
    assert "WARNING" in line and "tiphys.test: key 'sso' ignored key=sso" in line
    with pytest.raises(ValueError, match="json, text"):
        logs.configure(format="yaml")  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def test_process_serves_and_stops_on_sigterm():
    """`python -m tiphys.controller.main --embedded`: JSON logs, ready and leading, exit 0 on SIGTERM
    after releasing the Lease."""
    health, metrics = _free_port(), _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tiphys.controller.main", "--embedded", "--sim-kubelet",
                             "--health-port", str(health), "--metrics-port", str(metrics),
                             "--bind-address", "127.0.0.1", "--lease-duration", "15s", "--renew-deadline", "10s",
                             "--retry-period", "500ms"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ))
    # Waits for outcomes, not speed limits: a Python process starting on a loaded machine once took
    # over 20 s to be ready; and a Lease it cannot lose to a stall (it is released on SIGTERM anyway).
    try:
        deadline = time.monotonic() + 120
        while _get(health, "/readyz") != (200, "leading\n"):
            assert time.monotonic() < deadline and proc.poll() is None, "controller never became ready"
            time.sleep(0.1)
        status, page = _get(metrics, "/metrics")
        assert status == 200 and "argo_workflows_is_leader 1.0" in page
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    records = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    messages = [r["msg"] for r in records]
    assert "successfully acquired lease" in messages and "released leader lease" in messages
    assert messages.index("stop requested; draining") < messages.index("released leader lease")


def test_port_in_use_is_a_logged_fatal_error():
    """A health port already taken: one critical JSON log line naming the failure, exit 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "tiphys.controller.main", "--embedded", "--health-port",
                               str(port), "--metrics-port", "0", "--bind-address", "127.0.0.1"],
                              capture_output=True, timeout=120, env=dict(os.environ))  # a guard, not a limit
    assert done.returncode == 1
    records = [json.loads(line) for line in done.stderr.decode().splitlines() if line.startswith("{")]
    fatal = [r for r in records if r["level"] == "critical"]
    assert len(fatal) == 1 and "controller failed" in fatal[0]["msg"] and "error" in fatal[0]
