"""The one check every cluster-command test makes of a `python -m tiphys.cli` call: its exit status
(0 ok, 1 failure, 2 usage), with its output in the failure message."""
from __future__ import annotations

__all__ = ["ok"]


def ok(result, code: int = 0):
    """`result` when it exited with `code`; an assertion showing stdout and stderr otherwise."""
    assert result.returncode == code, (f"exit {result.returncode}, wanted {code}\n"
                                       f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result
