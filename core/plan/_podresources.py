"""`resourcesDuration` of a pod: requested resources × container run time (Argo `util/resource`).

Argo charges every container (init ones included) for how long it ran, in units of "1 CPU for
1 s", "100Mi of memory for 1 s", "10Gi of storage for 1 s" and "1 of anything else for 1 s".
A container without requests is charged Argo's defaults, 100m CPU and 100Mi memory; limits
stand in for missing requests, as Kubernetes does. Each container contributes
`milli(quantity) * whole seconds // milli(unit)`, summed per resource name.
"""
from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from decimal import Decimal, InvalidOperation

from tiphys.core.plan._poderrors import PodStatusError

__all__ = ["parse_quantity_milli", "resources_duration"]

_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18"),
           "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
           "Pi": Decimal(2**50), "Ei": Decimal(2**60)}
_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")
_DEFAULTS = {"cpu": "100m", "memory": "100Mi"}
_UNIT_MILLI = {"cpu": 1000, "memory": 100 * 2**20 * 1000, "storage": 10 * 2**30 * 1000,
               "ephemeral-storage": 10 * 2**30 * 1000}


def parse_quantity_milli(text: object, /, *, where: str = "quantity") -> int:
    """A Kubernetes quantity in thousandths, rounded up like `Quantity.MilliValue()`."""
    milli = _milli(str(text).strip())
    if milli is None:
        raise PodStatusError(where, f"not a Kubernetes quantity: {text!r}")
    return milli


@functools.lru_cache(maxsize=4096)
def _milli(text: str) -> int | None:
    """Cached: every pod of a template repeats the same few quantities (Decimal parsing is slow)."""
    m = _QUANTITY.match(text)
    if m is None:
        return None
    try:
        value = Decimal(m.group(1) + (m.group(2) or "")) * _SUFFIX[m.group(3) or ""]
    except InvalidOperation:
        return None
    return math.ceil(value * 1000)


def _seconds(state: dict, now: float | None, where: str) -> int:
    def at(text: object) -> float:
        try:
            return _dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise PodStatusError(where, f"not an RFC3339 time: {text!r}") from None

    term, run = state.get("terminated"), state.get("running")
    if term and term.get("startedAt") and term.get("finishedAt"):
        return max(0, int(at(term["finishedAt"]) - at(term["startedAt"])))
    if run and run.get("startedAt") and now is not None:
        return max(0, int(now - at(run["startedAt"])))
    return 0


def resources_duration(pod: dict, /, *, now: float | None = None) -> dict[str, int]:
    """Seconds of each resource unit the pod used; running containers count only given `now`."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    requested: dict[str, dict[str, object]] = {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        res = c.get("resources") or {}
        requested[c.get("name", "")] = {**_DEFAULTS, **(res.get("limits") or {}), **(res.get("requests") or {})}
    out: dict[str, int] = {}
    for st in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        name = st.get("name", "")
        where = f"pod {(pod.get('metadata') or {}).get('name', '')}: {name}"
        age = _seconds(st.get("state") or {}, now, where)
        for resource, qty in requested.get(name, {}).items():  # Argo: no spec entry, no charge
            milli = parse_quantity_milli(qty, where=f"{where}.resources.{resource}")
            out[resource] = out.get(resource, 0) + milli * age // _UNIT_MILLI.get(resource, 1000)
    return out
