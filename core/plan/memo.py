"""`memoize`: Argo's step cache in ConfigMaps, the planner's side (argo-semantics §5.3 step 10, §5.13).

Before a node of a memoized template is made (or just after it got its lock), the entry for the
substituted `memoize.key` is looked up in the ConfigMap `memoize.cache.configMap.name`:

- a hit not older than `maxAge` (counted from the entry's `creationTimestamp`, as Argo's
  `GetOutputsWithMaxAge`) makes the node at once, Succeeded, with the cached outputs, no pod and
  `memoizationStatus {hit: true, key, cacheName}`; the entry's `lastHitTimestamp` is refreshed;
- a miss (no ConfigMap, no entry, an expired entry) runs the node as usual with
  `memoizationStatus.hit: false`; when it Succeeds its outputs are saved as Argo's entry JSON
  `{nodeID, outputs, creationTimestamp, lastHitTimestamp}` (`SaveMemo`, applied by the shell).
- a key, maxAge or ConfigMap name that cannot be used makes the node Error with a message
  naming the field (Argo: `initializeNodeOrMarkError`).

The planner reads ConfigMaps through `Execution.memo_caches`, a `name -> ConfigMap | None`
callable the reconciler feeds from an informer cache (as `Execution.configmaps`): a lookup costs
no API call. What this Execution saved itself is remembered in `memo_written`, so a later step
with the same key hits before the informer has seen the write (Argo reads the ConfigMap with a
GET and sees its own write at once).

Restart safety: a hit node is Succeeded in status and is never looked up again; a save lost in
a crash is found by `reissue_lost` (a Succeeded miss node whose entry is not in the cache) and
issued again from the outputs in status.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import msgspec

from tiphys.core.lang._go import go_duration as _go_duration
from tiphys.core.lang.errors import LangError
from tiphys.core.lang.tags import substitute_object
from tiphys.core.plan.actions import SaveMemo
from tiphys.core.plan.execution import Execution
from tiphys.core.spec import MemoizationStatus, NodeStatus, Outputs

__all__ = ["Memo", "MemoError", "CACHE_LABEL", "CACHE_TYPE", "memo_of", "go_duration", "read_entry",
           "before_start", "after_start", "saved", "reissue_lost", "retry_later", "take_retries"]

CACHE_LABEL = "workflows.argoproj.io/configmap-type"
CACHE_TYPE = "Cache"
# Argo's cacheKeyRegex (workflow/controller/cache): stricter than a ConfigMap data key, no '.' or '_'
_KEY = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$")
_CM_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_NODE_TYPES = {"container": "Pod", "script": "Pod", "containerSet": "Pod", "resource": "Pod", "data": "Pod",
               "steps": "Steps", "dag": "DAG", "suspend": "Suspend", "http": "HTTP", "plugin": "Plugin"}


class MemoError(ValueError):
    """A `memoize` block, or the cache it points at, that cannot be used; the message names the field."""


class Memo(msgspec.Struct, frozen=True):
    """A template's `memoize`, substituted and checked."""

    key: str
    cache_name: str
    max_age: float | None  # seconds; None: entries never expire

    @property
    def status_miss(self) -> MemoizationStatus:
        return MemoizationStatus(hit=False, key=self.key, cache_name=self.cache_name)

    @property
    def status_hit(self) -> MemoizationStatus:
        return MemoizationStatus(hit=True, key=self.key, cache_name=self.cache_name)


def go_duration(text: str, /) -> float:
    """Seconds in a Go duration (`time.ParseDuration`: `10s`, `1h30m`, `-2m`, `0`); MemoError otherwise.

    Stricter than `timeouts.parse_duration`: Go refuses a bare number other than 0.
    """
    try:
        return _go_duration(text)
    except ValueError:
        raise MemoError(f"invalid duration {text!r}") from None


def memo_of(template: dict, scope: dict, /, *, where: str) -> Memo:
    """The template's `memoize`, with `{{ }}` tags substituted from `scope` (Argo substitutes the whole
    template with the node's inputs before it reads the key); `where` is the template's path."""
    raw = template.get("memoize")
    if not isinstance(raw, dict):
        raise MemoError(f"{where}.memoize must be an object")
    try:
        memo = substitute_object(raw, scope)
    except LangError as exc:
        raise MemoError(f"{where}.memoize: {exc}") from None
    key = memo.get("key")
    if not isinstance(key, str) or not key:
        raise MemoError(f"{where}.memoize.key is required")
    if not _KEY.match(key):
        raise MemoError(f"invalid cache key: {key!r} ({where}.memoize.key must match {_KEY.pattern})")
    cm = (memo.get("cache") or {}).get("configMap") if isinstance(memo.get("cache"), dict) else None
    name = cm.get("name") if isinstance(cm, dict) else None
    if not isinstance(name, str) or not name:
        raise MemoError(f"{where}.memoize.cache.configMap.name is required")
    if len(name) > 253 or not _CM_NAME.match(name):
        raise MemoError(f"{where}.memoize.cache.configMap.name {name!r} is not a valid ConfigMap name")
    # cache.configMap.key is ignored, as in Argo: the entry's data key is always memoize.key
    max_age = memo.get("maxAge")
    seconds = None
    if max_age not in (None, ""):
        try:
            seconds = go_duration(str(max_age))
        except MemoError as exc:
            raise MemoError(f"invalid maxAge: {exc} ({where}.memoize.maxAge)") from None
    return Memo(key=key, cache_name=name, max_age=seconds)


def read_entry(configmap: dict | None, memo: Memo, /, *, where: str) -> dict | None:
    """The entry for `memo.key` in a ConfigMap as the informer holds it (None: no ConfigMap, no entry).

    A ConfigMap labelled for another use is refused rather than written into; an entry that is not
    JSON is an error, as Argo's `malformed cache entry`.
    """
    if configmap is None:
        return None
    labels = (configmap.get("metadata") or {}).get("labels") or {}
    kind = labels.get(CACHE_LABEL)
    if kind is not None and kind != CACHE_TYPE:
        raise MemoError(f"ConfigMap {memo.cache_name!r} ({where}.memoize.cache.configMap.name) is labelled "
                        f"{CACHE_LABEL}: {kind}, not {CACHE_TYPE}")
    raw = (configmap.get("data") or {}).get(memo.key)
    if not raw:
        return None
    try:
        entry = json.loads(raw)
    except ValueError as exc:
        raise MemoError(f"malformed cache entry {memo.key!r} in ConfigMap {memo.cache_name!r}: could not "
                        f"unmarshal JSON; unable to parse: {exc}") from None
    if not isinstance(entry, dict):
        raise MemoError(f"malformed cache entry {memo.key!r} in ConfigMap {memo.cache_name!r}: not an object")
    return entry


def _ts(text: Any) -> float:
    """Seconds of an entry timestamp; an absent or unreadable one is the zero time (always expired)."""
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lookup(ex: Execution, memo: Memo, where: str) -> dict | None:
    """The newest entry: the informer's, or the one this Execution wrote and the informer may not show yet."""
    reader = ex.memo_caches
    cached = read_entry(reader(memo.cache_name) if reader is not None else None, memo, where=where)
    own = ex.memo_written.get((memo.cache_name, memo.key))
    if own is None:
        return cached
    if cached is None or _ts(own.get("creationTimestamp")) >= _ts(cached.get("creationTimestamp")):
        return own
    return cached


def before_start(ex: Execution, call: Any, node_id: str, template: dict, kind: str, /, *, scope: dict,
                 retried: bool, node_kwargs: dict, inputs: dict) -> Memo | None:
    """§5.3 step 10 for a node about to be made (or just unlocked). Returns the Memo on a miss (the
    caller runs the node, then `after_start`); None when the node is already done: a hit
    (Succeeded from the cache) or an error (Error naming the field)."""
    where = f"templates.{template.get('name') or call.name}"
    existing = ex.nodes.get(node_id)
    try:
        memo = memo_of(template, scope, where=where)
        entry = _lookup(ex, memo, where)
        outputs = None
        if entry is not None and entry.get("outputs") is not None:
            outputs = msgspec.convert(entry["outputs"], type=Outputs)
    except (MemoError, msgspec.ValidationError) as exc:
        message = str(exc) if isinstance(exc, MemoError) else f"malformed cache entry outputs: {exc}"
        if existing is None:
            ex.init_node(call.name, "Skipped", boundary_id=call.boundary_id, phase="Error", message=message,
                         hooked=call.hooked)
        else:
            ex.update(node_id, phase="Error", message=message, synchronization_status=None,
                      task_result_synced=True)
        return None
    # Argo's Hit(): an entry is there; with maxAge it must also be young enough (GetOutputsWithMaxAge).
    # An entry saved without outputs (a steps template with none) is a hit too: its outputs are empty.
    hit = entry is not None and (memo.max_age is None
                                 or ex.now_ts - _ts(entry.get("creationTimestamp")) <= memo.max_age)
    if not hit:
        return memo
    if outputs is not None and outputs == Outputs():
        outputs = None
    if existing is None:
        node_type = _NODE_TYPES.get(kind, "Pod")
        ex.init_node(call.name, node_type, phase="Succeeded", inputs=inputs, **node_kwargs)
        # no pod, so no task result to wait for: Argo's hit node has no taskResultSynced at all
        ex.update(node_id, outputs=outputs, memoization_status=memo.status_hit, task_result_synced=None)
    else:  # it waited for a lock and now hits (Argo's updateAsCacheHitNode)
        ex.update(node_id, phase="Succeeded", outputs=outputs, memoization_status=memo.status_hit, message=None,
                  synchronization_status=None, task_result_synced=None)
    ex.publish_globals(template, outputs)  # Argo's processNodeOutputs: a hit's `globalName` outputs count too
    touched = {**entry, "lastHitTimestamp": ex.now}
    if (memo.cache_name, memo.key) in ex.memo_written:
        ex.memo_written[(memo.cache_name, memo.key)] = touched
    ex.actions.append(SaveMemo(memo.cache_name, memo.key, touched, refresh=True))
    return None


def after_start(ex: Execution, node_id: str, memo: Memo, /) -> None:
    """A miss: the node now runs; it carries `hit: false` and saves its outputs when it Succeeds."""
    node = ex.nodes.get(node_id)
    if node is None or node.memoization_status is not None:
        return
    node = ex.update(node_id, memoization_status=memo.status_miss)
    if node.phase == "Succeeded" and ex.fulfilled(node_id):  # finished while it started (nothing to run)
        saved(ex, node)


def saved(ex: Execution, node: NodeStatus, /, *, created: str | None = None) -> None:
    """The node Succeeded after a miss: write its outputs to the cache (Execution.update calls this)."""
    status = node.memoization_status
    if status is None or status.hit or not status.key or not status.cache_name:
        return
    outputs = ex.outputs_of(node.id_)
    stamp = created or ex.now
    entry = {"nodeID": node.id_, "outputs": msgspec.to_builtins(outputs) if outputs is not None else {},
             "creationTimestamp": stamp, "lastHitTimestamp": stamp}
    ex.memo_written[(status.cache_name, status.key)] = entry
    ex.actions.append(SaveMemo(status.cache_name, status.key, entry))


def reissue_lost(ex: Execution, /) -> list[SaveMemo]:
    """After a restart: saves of Succeeded miss nodes that the cache does not show (lost in a crash),
    queued for the shell. An entry another node wrote later than ours finished is left alone."""
    out: list[SaveMemo] = []
    for node in ex.nodes.values():
        status = node.memoization_status
        if status is None or status.hit or node.phase != "Succeeded" or not ex.fulfilled(node.id_):
            continue
        memo = Memo(key=status.key or "", cache_name=status.cache_name or "", max_age=None)
        try:
            entry = read_entry(ex.memo_caches(memo.cache_name) if ex.memo_caches is not None else None, memo,
                               where=f"nodes.{node.id_}")
        except MemoError:
            continue  # not a cache we may write (or a garbled entry a user must fix): Argo would not save either
        finished = node.finished_at or ""
        if entry is not None and (entry.get("nodeID") == node.id_
                                  or _ts(entry.get("creationTimestamp")) >= _ts(finished)):
            continue
        before = len(ex.actions)
        saved(ex, node, created=finished or None)
        out.extend(ex.actions[before:])
        del ex.actions[before:]
    ex.memo_retry.extend(out)
    return out


def retry_later(ex: Execution, failed: list[SaveMemo], /) -> None:
    """Saves the API refused (5xx, a cut connection, conflicts past the applier's retries): issued again
    by the next reconcile. Argo marks the node Error instead; ours may already have fed its dependants."""
    ex.memo_retry.extend(failed)


def take_retries(ex: Execution, /) -> list[SaveMemo]:
    """Saves to issue again now (a later save of the same entry wins: they are applied in order)."""
    out, ex.memo_retry = ex.memo_retry, []
    return out
