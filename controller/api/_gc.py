"""Deletion and garbage collection of the embedded store (a mixin of `EmbeddedApi`).

Kubernetes splits this between the apiserver (finalizers, `deletionTimestamp`, graceful pod
deletion) and kube-controller-manager's garbage collector (ownerReference cascade). The embedded
store runs both synchronously inside the delete (or finalizer-removing write) that triggers them:

* Background: the owner goes first; then each dependent with no other live owner is deleted
  (recursively), and dependents that still have a live owner lose the dangling reference.
* Foreground: the owner gets `deletionTimestamp` and the `foregroundDeletion` finalizer, its
  dependents are deleted, and the finalizer is dropped once no live dependent's reference has
  `blockOwnerDeletion: true` (a dependent held by its own finalizers keeps the owner waiting).
* Orphan: the owner's references are stripped from its dependents, then the owner goes.

The mixin uses the host's store (`_objects`, `_resources`, `_by_uid`, `_dependents`, `_clock`)
and its single write path (`_commit`, `_write`, `_entry`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from . import _objects
from .base import PODS, EventType, Propagation, Resource

if TYPE_CHECKING:
    from .embedded import _Entry

__all__ = ["GarbageCollector"]

Object = dict[str, Any]
_decode = msgspec.json.decode
_FOREGROUND = "foregroundDeletion"


class GarbageCollector:
    """Deletion semantics for `EmbeddedApi`; see the module docstring."""

    def _delete(self, resource: Resource, ns: str, name: str, propagation: Propagation,
                grace: int | None) -> Object:
        entry = self._entry(resource, ns, name)
        old, obj = entry.obj, _decode(entry.raw)
        meta = obj["metadata"]
        uid = meta["uid"]
        if resource == PODS:
            grace = _objects.pod_grace_period(obj, grace)
            if grace > 0:  # the kubelet finishes the delete once the containers stopped
                if "deletionTimestamp" in meta:
                    return obj
                meta["deletionTimestamp"] = _objects.timestamp(self._clock.now() + grace)
                meta["deletionGracePeriodSeconds"] = grace
                return self._commit(resource, EventType.MODIFIED, ns, name, obj, old)
        if propagation is Propagation.ORPHAN:
            self._orphan(uid)
        finalizers = list(meta.get("finalizers") or ())
        if propagation is Propagation.FOREGROUND and self._dependents.get(uid) and _FOREGROUND not in finalizers:
            finalizers.append(_FOREGROUND)
        if not finalizers:
            return self._remove(resource, ns, name, obj, old)
        if "deletionTimestamp" not in meta or finalizers != list(meta.get("finalizers") or ()):
            meta.setdefault("deletionTimestamp", _objects.timestamp(self._clock.now()))
            meta.setdefault("deletionGracePeriodSeconds", 0)
            meta["finalizers"] = finalizers
            obj = self._commit(resource, EventType.MODIFIED, ns, name, obj, old)
        if _FOREGROUND in finalizers:
            self._collect(uid)
            self._finish_foreground(uid)
            ref = self._by_uid.get(uid)
            if ref is not None:
                return _decode(self._objects[ref[0]][(ref[1], ref[2])].raw)
        return obj

    def _remove(self, resource: Resource, ns: str, name: str, final: Object, old: Object) -> Object:
        """Really delete (DELETED event), then let the garbage collector see the owner gone."""
        result = self._commit(resource, EventType.DELETED, ns, name, final, old)
        uid = final["metadata"]["uid"]
        self._collect(uid)
        for owner in _objects.owner_uids(final):
            self._finish_foreground(owner)
        return result

    def _collect(self, owner_uid: str) -> None:
        """Background GC of `owner_uid`'s dependents: delete those with no other live owner,
        strip the dangling reference from the others."""
        for rkey, ns, name in sorted(self._dependents.get(owner_uid, ())):
            entry = self._objects.get(rkey, {}).get((ns, name))
            if entry is None:
                continue
            resource = self._resources[rkey]
            others = [u for u in _objects.owner_uids(entry.obj) if u != owner_uid and u in self._by_uid]
            owner_alive = owner_uid in self._by_uid
            if others and not owner_alive:
                self._strip_owner(resource, ns, name, entry, owner_uid)
            elif not others and "deletionTimestamp" not in entry.obj["metadata"]:
                self._delete(resource, ns, name, Propagation.BACKGROUND, None)

    def _orphan(self, owner_uid: str) -> None:
        for rkey, ns, name in sorted(self._dependents.get(owner_uid, ())):
            entry = self._objects[rkey][(ns, name)]
            self._strip_owner(self._resources[rkey], ns, name, entry, owner_uid)

    def _strip_owner(self, resource: Resource, ns: str, name: str, entry: _Entry, owner_uid: str) -> None:
        obj = _decode(entry.raw)
        obj["metadata"]["ownerReferences"] = [r for r in obj["metadata"].get("ownerReferences") or ()
                                              if r.get("uid") != owner_uid]
        if not obj["metadata"]["ownerReferences"]:
            del obj["metadata"]["ownerReferences"]
        self._commit(resource, EventType.MODIFIED, ns, name, obj, entry.obj)

    def _blocked(self, owner_uid: str) -> bool:
        """Whether a live dependent's reference to `owner_uid` has `blockOwnerDeletion: true`."""
        for rkey, ns, name in self._dependents.get(owner_uid, ()):
            for ref in self._objects[rkey][(ns, name)].obj["metadata"].get("ownerReferences") or ():
                if ref.get("uid") == owner_uid and ref.get("blockOwnerDeletion") is True:
                    return True
        return False

    def _finish_foreground(self, owner_uid: str) -> None:
        """Drop `foregroundDeletion` from an owner no dependent blocks any more."""
        ref = self._by_uid.get(owner_uid)
        if ref is None or self._blocked(owner_uid):
            return
        rkey, ns, name = ref
        entry = self._objects[rkey][(ns, name)]
        if _FOREGROUND not in (entry.obj["metadata"].get("finalizers") or ()):
            return
        obj = _decode(entry.raw)
        obj["metadata"]["finalizers"] = [f for f in obj["metadata"]["finalizers"] if f != _FOREGROUND]
        self._write(self._resources[rkey], ns, name, obj, entry, None)
