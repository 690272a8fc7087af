"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's `leaderelection` semantics.

Argo's controller runs its workers only while it holds the Lease `workflow-controller`
(suffix `-<instanceID>`) in its namespace (reference §5.16); replicas that do not hold it stand
by with warm caches. This module is client-go's `LeaderElector` on our `Api` and `Clock`:

* **acquire**: try every `retry_period` (jittered by up to 1.2×, as `wait.JitterUntil`); a
  try succeeds when the Lease is absent (create it), free (`holderIdentity` empty) or expired.
  Expiry is judged on *this* process's clock: the Lease has expired when it has not changed
  for `leaseDurationSeconds` since we first saw its current content — never by comparing the
  holder's `renewTime` with our own clock, so clock skew between replicas cannot hand the Lease
  over early.
* **renew**: every `retry_period`; each renewal may retry (every `retry_period`) until
  `renew_deadline` after it began; past that, leadership is lost and `hold()` returns.
* **fields**: `holderIdentity`, `leaseDurationSeconds`, `acquireTime` (kept across renewals),
  `renewTime` (MicroTime, `2006-01-02T15:04:05.000000Z`) and `leaseTransitions` (+1 whenever the
  holder changes). Writes carry the observed `resourceVersion`, so two candidates racing for
  one expired Lease cannot both win: the loser gets Conflict, which is a failed try.
* **release** (graceful stop): `holderIdentity` emptied, `leaseDurationSeconds: 1`, so a
  standby takes over at its next try instead of waiting out the lease.

    elector = LeaderElector(api, LeaderElectionConfig(lease_name=..., namespace=..., identity=...),
                            clock=clock)
    await elector.acquire()        # returns once we lead
    ...start the workers...
    await elector.hold()           # renews; returns when leadership is lost
    # cancelling hold() releases the Lease (graceful stop)
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
import time
import uuid
from typing import Any

import msgspec

from tiphys.controller.api import base
from tiphys.controller.api.errors import ApiError, NotFound
from tiphys.controller.clock import Clock

__all__ = ["LeaderElectionConfig", "LeaderElector", "LeaseRecord", "format_micro_time", "default_identity"]

_log = logging.getLogger("tiphys.leader")
JITTER_FACTOR = 1.2


def format_micro_time(epoch: float, /) -> str:
    """Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits."""
    micros = int(round(epoch * 1_000_000))
    seconds, frac = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:06d}Z"


def default_identity() -> str:
    """client-go's usual identity: the host (pod) name plus a unique suffix for this process."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElectionConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Timings in seconds; client-go's checks: lease > renew deadline > 1.2 × retry period > 0."""

    lease_name: str
    namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.lease_name or not self.namespace or not self.identity:
            raise ValueError("LeaderElectionConfig: lease_name, namespace and identity must be non-empty")
        if self.retry_period <= 0:
            raise ValueError(f"LeaderElectionConfig.retry_period must be > 0, got {self.retry_period}")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError(f"LeaderElectionConfig: lease_duration ({self.lease_duration}) must be greater "
                             f"than renew_deadline ({self.renew_deadline})")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"LeaderElectionConfig: renew_deadline ({self.renew_deadline}) must be greater "
                             f"than {JITTER_FACTOR} x retry_period ({self.retry_period})")


class LeaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The Lease spec fields leader election reads and writes (client-go `LeaderElectionRecord`)."""

    holder_identity: str = ""
    lease_duration_seconds: int = 0
    acquire_time: str = ""
    renew_time: str = ""
    lease_transitions: int = 0

    @classmethod
    def from_lease(cls, lease: dict, /) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(holder_identity=spec.get("holderIdentity") or "",
                   lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
                   acquire_time=spec.get("acquireTime") or "", renew_time=spec.get("renewTime") or "",
                   lease_transitions=int(spec.get("leaseTransitions") or 0))

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"holderIdentity": self.holder_identity,
                                "leaseDurationSeconds": self.lease_duration_seconds,
                                "leaseTransitions": self.lease_transitions}
        if self.acquire_time:
            spec["acquireTime"] = self.acquire_time
        if self.renew_time:
            spec["renewTime"] = self.renew_time
        return spec


class LeaderElector:
    """One candidate. `acquire()`, then `hold()`; `is_leader` tells the state at any time."""

    def __init__(self, api: base.Api, config: LeaderElectionConfig, /, *, clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.api, self.config, self.clock = api, config, clock
        self._rng = rng if rng is not None else random.Random()
        self._lease: dict | None = None  # the Lease as last read or written by us
        self.observed: LeaseRecord | None = None
        self._observed_at = 0.0  # our clock when `observed` last changed
        self._leading = False
        self.transitions_seen = 0  # times this process became leader
        self.failed_tries = 0

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str:
        """The identity currently holding the Lease as we last saw it ("" when free or unknown)."""
        return self.observed.holder_identity if self.observed is not None else ""

    # -- one try ------------------------------------------------------------------------------

    def _observe(self, record: LeaseRecord, now: float) -> None:
        if record != self.observed:
            if self.observed is None or record.holder_identity != self.observed.holder_identity:
                _log.info("lease holder is %s", record.holder_identity or "nobody",
                          extra={"lease": self._name(), "holder": record.holder_identity})
            self.observed, self._observed_at = record, now

    def _name(self) -> str:
        return f"{self.config.namespace}/{self.config.lease_name}"

    async def try_acquire_or_renew(self) -> bool:
        """client-go `tryAcquireOrRenew`: one read and at most one write; True when we hold it."""
        cfg, now = self.config, self.clock.now()
        stamp = format_micro_time(now)
        mine = LeaseRecord(holder_identity=cfg.identity, lease_duration_seconds=math.ceil(cfg.lease_duration),
                           acquire_time=stamp, renew_time=stamp)
        try:
            lease = await self.api.get(base.LEASES, cfg.lease_name, namespace=cfg.namespace)
        except NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": cfg.lease_name, "namespace": cfg.namespace}, "spec": mine.to_spec()}
            try:
                self._lease = await self.api.create(base.LEASES, body, namespace=cfg.namespace)
            except ApiError as exc:  # AlreadyExists: another candidate created it first
                _log.debug("lease create failed: %r", exc)
                return False
            self._observe(mine, now)
            return True
        except ApiError as exc:
            _log.warning("lease read failed: %r", exc, extra={"lease": self._name()})
            return False
        old = LeaseRecord.from_lease(lease)
        self._observe(old, now)
        held_by_me = old.holder_identity == cfg.identity
        if old.holder_identity and not held_by_me and self._observed_at + old.lease_duration_seconds > now:
            return False  # someone else holds it and it has not expired by our clock
        if held_by_me:
            record = msgspec.structs.replace(mine, acquire_time=old.acquire_time or stamp,
                                             lease_transitions=old.lease_transitions)
        else:
            record = msgspec.structs.replace(mine, lease_transitions=old.lease_transitions + 1)
        body = {**lease, "spec": {**(lease.get("spec") or {}), **record.to_spec()}}
        try:
            self._lease = await self.api.update(base.LEASES, body, namespace=cfg.namespace)
        except ApiError as exc:  # Conflict: somebody wrote it since our read
            _log.debug("lease update failed: %r", exc)
            return False
        self._observe(record, now)
        return True

    async def _try_before(self, deadline: float) -> bool:
        """One try that counts as failed if it has not answered by `deadline` (our clock)."""
        attempt = asyncio.ensure_future(self.try_acquire_or_renew())
        timer = asyncio.ensure_future(self.clock.sleep(max(0.0, deadline - self.clock.now())))
        try:
            await asyncio.wait({attempt, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not attempt.done():
                attempt.cancel()
            await asyncio.gather(attempt, timer, return_exceptions=True)
        ok = attempt.done() and not attempt.cancelled() and attempt.exception() is None and attempt.result()
        if attempt.done() and not attempt.cancelled() and attempt.exception() is not None:
            _log.warning("lease try raised: %r", attempt.exception(), extra={"lease": self._name()})
        if not ok:
            self.failed_tries += 1
        return bool(ok)

    # -- the loops ----------------------------------------------------------------------------

    async def acquire(self) -> None:
        """Return once this candidate leads (client-go `acquire`)."""
        cfg = self.config
        _log.info("attempting to acquire leader lease", extra={"lease": self._name(), "identity": cfg.identity})
        while True:
            if await self._try_before(self.clock.now() + cfg.renew_deadline):
                break
            await self.clock.sleep(cfg.retry_period * (1.0 + self._rng.random() * JITTER_FACTOR))
        self._leading = True
        self.transitions_seen += 1
        _log.info("successfully acquired lease", extra={"lease": self._name(), "identity": cfg.identity})

    async def _renew_once(self) -> bool:
        cfg = self.config
        deadline = self.clock.now() + cfg.renew_deadline
        while True:
            if await self._try_before(deadline):
                return True
            if self.clock.now() + cfg.retry_period >= deadline:
                return False
            await self.clock.sleep(cfg.retry_period)

    async def hold(self) -> None:
        """Renew until a renewal fails past the renew deadline, then return (leadership lost).

        Cancelling `hold()` releases the Lease first (graceful stop), then re-raises.
        """
        cfg = self.config
        try:
            while True:
                await self.clock.sleep(cfg.retry_period)
                if not await self._renew_once():
                    break
        except asyncio.CancelledError:
            await self.release()
            raise
        self._leading = False
        _log.error("failed to renew lease within the renew deadline; leadership lost",
                   extra={"lease": self._name(), "identity": cfg.identity})

    async def release(self) -> bool:
        """Give the Lease up now if we hold it (client-go `release`); True when it was released."""
        if not self._leading or self._lease is None:
            return False
        self._leading = False
        now, cfg = self.clock.now(), self.config
        old = self.observed or LeaseRecord()
        record = LeaseRecord(holder_identity="", lease_duration_seconds=1, acquire_time=format_micro_time(now),
                             renew_time=format_micro_time(now), lease_transitions=old.lease_transitions)
        body = {**self._lease, "spec": {**(self._lease.get("spec") or {}), **record.to_spec()}}
        try:
            self._lease = await self.api.update(base.LEASES, body, namespace=cfg.namespace)
        except ApiError as exc:
            _log.warning("lease release failed (it will expire instead): %r", exc, extra={"lease": self._name()})
            return False
        self._observe(record, now)
        _log.info("released leader lease", extra={"lease": self._name(), "identity": cfg.identity})
        return True

