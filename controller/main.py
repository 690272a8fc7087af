"""`tiphys-controller`: the workflow controller process, a drop-in for Argo's `workflow-controller`.

    tiphys-controller --kubeconfig ~/.kube/config --configmap workflow-controller-configmap
    tiphys-controller --embedded state.db --sim-kubelet       # local use, no cluster

The process, in order (Argo's `cmd/workflow-controller/main.go` and `controller.go: Run`):

1. logs (`--log-format json|text`), the API client (`--kubeconfig`/`--context`, in-cluster
   when neither is given, `--qps`/`--burst`; or `--embedded [PATH]`), the health and metrics
   servers — `/healthz` answers from here on, `/readyz` not yet;
2. the controller ConfigMap, read once and then followed (`config.ConfigWatcher`): its
   `instanceID` picks the informers' label selector and the Lease name
   (`workflow-controller-<instanceID>`), its executor/images/mainContainer settings shape pods
   and are hot-reloaded into the reconciler;
3. the engine's and the cron controller's informers start on every replica, so a standby's
   caches are warm;
4. with leader election (default; off with `--no-leader-elect` or `LEADER_ELECTION_DISABLE=true`)
   the replica waits for the Lease, and only the leader runs the `--workflow-workers` workers
   and the `--cron-workflow-workers` CronWorkflow workers (`controller.cron`);
5. SIGTERM or SIGINT stops gracefully: the queue stops taking keys and drains (in-flight
   reconciles finish, queued keys are worked off, bounded by `--drain-timeout`), then the Lease
   is released so a standby takes over at once, then informers and servers stop. Exit 0.
   Losing the Lease (renewals failing past the renew deadline) stops the workers and exits 1,
   as Argo's controller does, so the Deployment restarts it as a fresh candidate.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from tiphys.controller import logs
from tiphys.controller.api import base
from tiphys.controller.clock import Clock, RealClock
from tiphys.controller.config import ConfigWatcher, ControllerConfig
from tiphys.controller.cron import CRON_WORKERS, CronController
from tiphys.controller.engine import Engine
from tiphys.controller.health import HttpEndpoint, health_routes, metrics_routes
from tiphys.controller.informer import FuncHandler
from tiphys.controller.leader import LeaderElectionConfig, LeaderElector, default_identity
from tiphys.controller.instrument import InstrumentedQueue
from tiphys.controller.metrics import ControllerMetrics
from tiphys.controller.podlimit import PodCreateLimiter
from tiphys.controller.workqueue import run_workers
from tiphys.core.plan.meta import PodSettings
from tiphys.core.plan.timeouts import DurationError, parse_duration

__all__ = ["main", "Options", "parse_args", "ControllerProcess", "own_namespace"]

_log = logging.getLogger("tiphys.main")
SA_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
EXIT_LOST_LEADERSHIP = 1
EXIT_FATAL = 1


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """The parsed command line (durations in seconds)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    configmap: str = "workflow-controller-configmap"
    executor_image: str | None = None
    instance_id: str | None = None
    workflow_workers: int = 32
    cron_workflow_workers: int = CRON_WORKERS
    qps: float = 20.0
    burst: int = 30
    metrics_port: int | None = None  # None: the ConfigMap's metricsConfig.port (9090)
    health_port: int = 6060
    bind_address: str = "0.0.0.0"
    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    lease_name: str | None = None  # None: workflow-controller[-<instanceID>]
    lease_namespace: str | None = None
    identity: str | None = None
    log_format: str = "json"
    log_level: str = "info"
    embedded: str | None = None  # ":memory:" for an in-memory store
    sim_kubelet: bool = False
    drain_timeout: float = 30.0
    status_interval: float = 1.0


def _duration(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive, got {text!r}")
    return seconds


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tiphys-controller", description="The tiphys workflow controller.")
    add = p.add_argument
    add("--kubeconfig", help="kubeconfig file (default: in-cluster, else $KUBECONFIG / ~/.kube/config)")
    add("--context", help="kubeconfig context")
    add("--namespace", help="watch only this namespace (default: all namespaces)")
    add("--configmap", default="workflow-controller-configmap",
        help="controller ConfigMap name, or namespace/name (default namespace: the controller's own)")
    add("--executor-image", help="executor image (wins over the ConfigMap's executor.image)")
    add("--instance-id", help="instance ID (wins over the ConfigMap's instanceID)")
    add("--workflow-workers", type=_positive_int, default=32)
    add("--cron-workflow-workers", type=_positive_int, default=CRON_WORKERS)
    add("--qps", type=float, default=20.0)
    add("--burst", type=_positive_int, default=30)
    add("--metrics-port", type=_port, help="default: the ConfigMap's metricsConfig.port, else 9090")
    add("--health-port", type=_port, default=6060)
    add("--bind-address", default="0.0.0.0", help="address the metrics and health servers listen on")
    add("--leader-elect", action=argparse.BooleanOptionalAction, default=True)
    add("--lease-duration", type=_duration, default=15.0)
    add("--renew-deadline", type=_duration, default=10.0)
    add("--retry-period", type=_duration, default=2.0)
    add("--lease-name", help="default: workflow-controller, with -<instanceID> when one is set")
    add("--lease-namespace", help="default: the controller's own namespace")
    add("--identity", help="leader election identity (default: $LEADER_ELECTION_IDENTITY, else host_uuid)")
    add("--log-format", choices=logs.LOG_FORMATS, default="json")
    add("--log-level", choices=("debug", "info", "warning", "error"), default="info")
    add("--embedded", nargs="?", const=":memory:", metavar="PATH",
        help="run against the embedded API (persisted to PATH when given) instead of a kube-apiserver")
    add("--sim-kubelet", action="store_true", help="with --embedded: run the simulated kubelet too")
    add("--drain-timeout", type=_duration, default=30.0, help="longest wait for the queue to drain on stop")
    add("--status-interval", type=_duration, default=1.0, help="least time between two status writes")
    return p


def parse_args(argv: Sequence[str] | None = None, /) -> Options:
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.sim_kubelet and ns.embedded is None:
        parser.error("--sim-kubelet needs --embedded")
    if ns.embedded is not None and (ns.kubeconfig or ns.context):
        parser.error("--embedded cannot be combined with --kubeconfig/--context")
    if os.environ.get("LEADER_ELECTION_DISABLE", "").lower() == "true":
        ns.leader_elect = False  # Argo's switch for single-replica installs
    try:
        LeaderElectionConfig(lease_name="x", namespace="x", identity="x", lease_duration=ns.lease_duration,
                             renew_deadline=ns.renew_deadline, retry_period=ns.retry_period)
    except ValueError as exc:
        parser.error(str(exc))
    return msgspec.convert(vars(ns), Options)


def own_namespace(options: Options, /) -> str:
    """The controller's namespace: its service account's, else --namespace, else "default"."""
    try:
        return SA_NAMESPACE_FILE.read_text().strip() or options.namespace or "default"
    except OSError:
        return options.namespace or "default"


class _Engine(Engine):
    """The engine with the instrumented work queue in place before the handlers are wired."""

    def _wire(self) -> None:
        queue = self.queue = InstrumentedQueue(clock=self.clock)
        super()._wire()
        # registered after the engine's handler, which has already queued the key's last run
        self.workflows.add_handler(FuncHandler(delete=lambda obj, final_state_unknown: queue.forget_seen(
            base.object_key(obj))))


class ControllerProcess:
    """Everything `main` runs, on a given API and clock (tests drive it in-process)."""

    def __init__(self, options: Options, /, *, api: base.Api, clock: Clock,
                 log_counter: logs.LevelCounter | None = None) -> None:
        self.options, self.clock = options, clock
        self.metrics = ControllerMetrics()
        # pod creates wait for resourceRateLimit outside the timed request
        self.pod_limiter = PodCreateLimiter(self.metrics.instrument_api(api), clock=clock,
                                            on_wait=self.metrics.resource_rate_limiter_latency.observe)
        self.api: base.Api = self.pod_limiter
        self.namespace = own_namespace(options)
        cm_ns, _, cm_name = options.configmap.rpartition("/")
        self.config = ConfigWatcher(self.api, cm_name, namespace=cm_ns or self.namespace, clock=clock)
        self.engine: _Engine | None = None
        self.cron: CronController | None = None
        self.elector: LeaderElector | None = None
        self.health = HttpEndpoint(health_routes(self.readiness), host=options.bind_address,
                                   port=options.health_port)
        self.metrics_server: HttpEndpoint | None = None
        self.log_counter = log_counter
        self.kubelet: Any = None
        self._stopping = asyncio.Event()
        self._informer_tasks: list[asyncio.Task] = []
        self._instance_id = ""

    # -- state --------------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        if self.engine is None or not self.config.informer.has_synced():
            return False, "starting: controller ConfigMap not read yet"
        waiting = [inf._resource.plural for inf in self._informers() if not inf.has_synced()]
        if waiting:
            return False, "informers not synced: " + ", ".join(waiting)
        if self._stopping.is_set():
            return False, "stopping"
        if self.elector is not None:
            return True, "leading" if self.elector.is_leader else "standing by"
        return True, "ready"

    def _informers(self) -> list[Any]:
        e = self.engine
        assert e is not None
        cron = self.cron.informers if self.cron is not None else ()
        # configmaps: parameter ConfigMaps; sync_configmaps: semaphore limits (controller/sync.py)
        return [e.templates, e.cluster_templates, e.configmaps, e.sync_configmaps, e.task_results, e.task_sets,
                e.pods, e.workflows, *cron]

    def stop(self) -> None:
        """Ask for a graceful stop (the signal handler calls this)."""
        if not self._stopping.is_set():
            _log.info("stop requested; draining")
            self._stopping.set()

    def _apply_config(self, config: ControllerConfig) -> None:
        rrl = config.resource_rate_limit
        self.pod_limiter.configure(*((rrl.limit, rrl.burst) if rrl is not None else (None,)))
        if self.engine is None:
            return
        self.engine.queue.initial_delay = config.initial_delay
        # hot: waiters a raised limit lets in are enqueued at once
        self.engine.throttler.configure(parallelism=config.parallelism,
                                        namespace_parallelism=config.namespace_parallelism)
        self.engine.reconciler.settings = config.pod_settings(PodSettings(), executor_image=self.options.executor_image)
        # hot, like the pod settings: read when a workflow is adopted, so running ones keep theirs
        rec = self.engine.reconciler
        rec.workflow_defaults, rec.artifact_repository = config.workflow_defaults, config.artifact_repository
        rec.controller_namespace = self.namespace
        if (self.options.instance_id is None and config.instance_id != self._instance_id):
            _log.warning("instanceID changed in the ConfigMap; it takes effect after a restart",
                         extra={"running": self._instance_id, "configured": config.instance_id})

    # -- run ----------------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (0) or until leadership is lost (1)."""
        opts = self.options
        await self.health.start()
        try:
            return await self._run(opts)
        finally:
            await self._shutdown()

    async def _run(self, opts: Options) -> int:
        first = await self._wait_or_stop(self.config.load())
        if first is None:
            return 0
        self._instance_id = opts.instance_id if opts.instance_id is not None else first.instance_id
        settings = first.pod_settings(PodSettings(), executor_image=opts.executor_image)
        self.engine = _Engine(self.api, clock=self.clock, namespace=opts.namespace, workers=opts.workflow_workers,
                              settings=settings, instance_id=self._instance_id, status_interval=opts.status_interval)
        self.cron = CronController(self.api, clock=self.clock, namespace=opts.namespace,
                                   instance_id=self._instance_id, workers=opts.cron_workflow_workers)
        self.config.on_change(self._apply_config)
        self._apply_config(first)
        if opts.leader_elect:
            lease = opts.lease_name or ("workflow-controller" + (f"-{self._instance_id}" if self._instance_id else ""))
            identity = opts.identity or os.environ.get("LEADER_ELECTION_IDENTITY") or default_identity()
            self.elector = LeaderElector(self.api, LeaderElectionConfig(
                lease_name=lease, namespace=opts.lease_namespace or self.namespace, identity=identity,
                lease_duration=opts.lease_duration, renew_deadline=opts.renew_deadline,
                retry_period=opts.retry_period), clock=self.clock)
        self.metrics.bind(engine=self.engine, queue=self.engine.queue, elector=self.elector,
                          leader_election=opts.leader_elect, config=self.config, logs=self.log_counter,
                          cron=self.cron)
        mc = first.metrics
        if mc.enabled or opts.metrics_port is not None:
            port = opts.metrics_port if opts.metrics_port is not None else mc.port
            self.metrics_server = HttpEndpoint(metrics_routes(self.metrics.exposition, path=mc.path),
                                               host=opts.bind_address, port=port)
            await self.metrics_server.start()
        if opts.sim_kubelet:
            from tiphys.controller.simkubelet import SimKubelet  # noqa: PLC0415 - local use only
            self.kubelet = SimKubelet(self.api, clock=self.clock)
            await self.kubelet.start()
        for informer in self._informers():
            self._informer_tasks.append(asyncio.ensure_future(informer.run()))
        synced = await self._wait_or_stop(asyncio.gather(*(i.wait_synced() for i in self._informers())))
        if synced is None:
            return 0
        if not await self._wait_or_stop(self.engine.namespace_limits.start(), sentinel=True):
            return 0  # stopped while the Namespaces (parallelism-limit labels) were being listed
        _log.info("informers synced", extra={"instanceID": self._instance_id, "namespace": opts.namespace or "*"})
        hold: asyncio.Task | None = None
        if self.elector is not None:
            if not await self._wait_or_stop(self.elector.acquire(), sentinel=True):
                return 0
            hold = asyncio.ensure_future(self.elector.hold())
        # before any reconcile, as the leader: the locks the workflows held when the last controller
        # stopped (status.synchronization as the previous leader wrote it), or one would be granted twice
        self.engine.locks.rebuild(self.engine.workflows.store.list())
        # and the workflows already running count against parallelism before anything new is admitted
        self.engine.throttler.rebuild(self.engine.workflows.store.list())
        workers = asyncio.ensure_future(run_workers(self.engine.queue, self.metrics.timed(
            self.engine.reconciler.reconcile), n=opts.workflow_workers, stats=self.engine.stats))
        crons = self.cron.run_workers()
        _log.info("workers started", extra={"workers": opts.workflow_workers, "cronWorkers": opts.cron_workflow_workers})
        stopping = asyncio.ensure_future(self._stopping.wait())
        waits = {stopping, workers} | ({hold} if hold is not None else set())
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        lost = hold is not None and hold.done()
        if lost:
            _log.error("leadership lost; stopping the workers and exiting")
            workers.cancel()  # another replica may already lead: write nothing more
            crons.cancel()
            await asyncio.gather(workers, crons, return_exceptions=True)
            return EXIT_LOST_LEADERSHIP
        self.engine.queue.shut_down()  # drain: in-flight and queued keys finish, nothing new is taken
        self.cron.queue.shut_down()  # its timers are dropped: the next leader re-arms them
        # the Lease is still renewed while draining; losing it stops the drain (another may lead)
        await asyncio.wait({workers} | ({hold} if hold is not None else set()), timeout=opts.drain_timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not workers.done():
            _log.warning("queue not drained (timeout %ss, or leadership lost); cancelling the workers",
                         opts.drain_timeout)
            workers.cancel()
        await asyncio.wait({crons}, timeout=opts.drain_timeout)
        crons.cancel()
        await asyncio.gather(workers, crons, return_exceptions=True)
        if hold is not None:
            hold.cancel()  # releases the Lease
            await asyncio.gather(hold, return_exceptions=True)
        return 0

    async def _wait_or_stop(self, aw: Any, *, sentinel: bool = False) -> Any:
        """Await `aw` unless a stop comes first (then None, or False with `sentinel`)."""
        task = asyncio.ensure_future(aw)
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if task.done():
            result = task.result()
            return True if sentinel else result
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False if sentinel else None

    async def _shutdown(self) -> None:
        if self.engine is not None and not self.engine.queue.shutting_down:
            self.engine.queue.shut_down()
        if self.engine is not None:
            await self.engine.namespace_limits.stop()
        if self.cron is not None:
            await self.cron.stop()  # its workers; the informer tasks are in _informer_tasks
        for task in self._informer_tasks:
            task.cancel()
        await asyncio.gather(*self._informer_tasks, return_exceptions=True)
        self._informer_tasks.clear()
        if self.kubelet is not None:
            await self.kubelet.stop()
        await self.config.stop()
        for server in (self.metrics_server, self.health):
            if server is not None:
                await server.stop()
        await self.api.close()


def _make_api(options: Options, clock: Clock) -> base.Api:
    if options.embedded is not None:
        from tiphys.controller.api.embedded import EmbeddedApi  # noqa: PLC0415
        return EmbeddedApi(path=None if options.embedded == ":memory:" else options.embedded, clock=clock)
    from tiphys.controller.api.http import HttpApi, load_config  # noqa: PLC0415 - loads `kubernetes`
    return HttpApi(load_config(kubeconfig=options.kubeconfig, context=options.context, qps=options.qps,
                               burst=options.burst), clock=clock)


async def _amain(options: Options, counter: logs.LevelCounter) -> int:
    clock = RealClock()
    try:
        proc = ControllerProcess(options, api=_make_api(options, clock), clock=clock, log_counter=counter)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, proc.stop)
        return await proc.run()
    except Exception as exc:  # a port in use, an unreadable kubeconfig, a locked store: say it and exit 1
        _log.critical("controller failed: %s", exc, exc_info=True)
        return EXIT_FATAL


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    counter = logs.configure(format=options.log_format,  # type: ignore[arg-type]
                             level=getattr(logging, options.log_level.upper()))
    _log.info("tiphys-controller starting", extra={
        "namespace": options.namespace or "*", "configmap": options.configmap,
        "leaderElect": options.leader_elect, "workers": options.workflow_workers,
        "api": "embedded" if options.embedded is not None else (options.kubeconfig or "in-cluster")})
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(_amain(options, counter))
    return uvloop.run(_amain(options, counter))


if __name__ == "__main__":
    sys.exit(main())
