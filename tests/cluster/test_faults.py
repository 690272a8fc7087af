"""Faults between the controller and the real kube-apiserver, with nothing lost.

The controller (`Engine` over `HttpApi`) talks to the apiserver through `FaultProxy`; the
simulated kubelet talks to it directly, as a node would. Each test injects one kind of fault,
asserts the fault really happened (so the test can fail), and then that the run is whole
(`check_fan_run`): the workflow Succeeded, no pod was created or ran twice, no pod is missing,
and every output reached, by value, the steps that consume it:

(a) watch streams cut mid-body, and connections dropped (before forwarding, or after the
    apiserver acted and before the answer arrived) - of reads, and of pod creates;
(b) watches expired with 410 Gone, as an HTTP 410 and as an ERROR event in a 200 stream;
(c) 429 storms with `Retry-After`;
(d) a concurrent writer bumping the Workflow's resourceVersion, so status writes meet 409;
(e) the controller killed right after a random write, ten runs of a 500-step workflow, each
    restarted in-process on the same apiserver (tests/controller/engine/test_restart.py does
    this on the embedded store).
"""
from __future__ import annotations

import asyncio
import random

import pytest

from tiphys.controller.api import NotFound, base

from ._control_plane import ControlPlane
from ._faults import FaultProxy, FanRun, direct_api, proxied_api, run_fan

pytestmark = pytest.mark.cluster

STEPS = 150


# A wait for the outcome, not a speed limit: a clean run takes 5-20 s, the 429 storms' ~85 s (each
# 429 waits out its Retry-After); a loaded machine may take several times that.
async def _through(proxy: FaultProxy, cluster: ControlPlane, ns: str, n: int = STEPS, *, timeout: float = 600,
                   status_interval: float = 1.0) -> FanRun:
    await proxy.start()
    try:
        return await run_fan(cluster, ns, n, make_api=lambda: proxied_api(proxy, cluster.admin_token),
                             timeout=timeout, status_interval=status_interval)
    finally:
        await proxy.stop()


def test_watch_cuts(cluster: ControlPlane, cluster_namespace: str) -> None:
    # a cut mid-body is a clean end (client-go's StreamWatcher): re-watch from the last
    # resourceVersion at once; no relist, no backoff
    # Cut by time and, so that the count does not depend on how fast the run goes, by events:
    # 152 pods make >= 2 events each (created, then bound and run) and as many task results
    # (created, deleted), so each of those two watches is cut >= 304/30 - 1 times.
    proxy = FaultProxy(cluster, seed=1, cut_watch_after=(0.3, 2.0), cut_watch_events=(5, 30))
    run = asyncio.run(_through(proxy, cluster, cluster_namespace))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.stats["watch_cut"] >= 18, dict(proxy.stats)
    run.check(STEPS)


def test_dropped_reads(cluster: ControlPlane, cluster_namespace: str) -> None:
    # connections of GETs (lists, gets) dropped before or after the apiserver answered: retried
    # the controller reads little besides its informers' lists: expire watches so they relist
    # (pods' only: a lagging task-result informer is test_task_results_lagging_behind_pods)
    # Every other GET is dropped (so the count holds however many GETs the timings make: at least
    # the 3 informers' lists and the pods' 2 relists must succeed, so >= 5 drops), and a third of
    # the rest at random (one request dropped several times in a row).
    proxy = FaultProxy(cluster, seed=5, cut_watch_after=(0.5, 2.0), expire={"/pods": 2},
                       drop_every=2, p_drop=0.3, drop_methods=frozenset({"GET"}))
    run = asyncio.run(_through(proxy, cluster, cluster_namespace))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.stats["dropped_before"] + proxy.stats["dropped_after"] >= 5, dict(proxy.stats)
    assert proxy.stats["dropped_before"] >= 1 and proxy.stats["dropped_after"] >= 1, dict(proxy.stats)
    run.check(STEPS)


def test_dropped_pod_creates(cluster: ControlPlane, cluster_namespace: str) -> None:
    # pod POSTs dropped: half never reached the apiserver, half were made and their answer lost
    # (re-issued, they meet AlreadyExists). Every 20th POST, the two kinds in turn: a count, so
    # both kinds happen however the run goes. A node that missed its task result would wait out
    # the outputs gate (60 s) and lose its outputs, which run.check finds: the 600 s is a wait,
    # not a speed limit (tests/controller/engine/test_lost_pod_creates.py has both cases on the
    # embedded API, and why the final status precedes the task-result clean-up).
    proxy = FaultProxy(cluster, seed=6, drop_every=20, drop_methods=frozenset({"POST"}), drop_path="/pods")
    run = asyncio.run(_through(proxy, cluster, cluster_namespace, timeout=600))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.stats["dropped_before"] >= 1 and proxy.stats["dropped_after"] >= 1, dict(proxy.stats)
    # pods whose every create the controller saw fail: made by a create whose answer was lost
    adopted = {p["metadata"]["name"] for p in run.pods} - set(run.pod_creates)
    assert adopted, "no pod was made by a create whose answer was lost"
    run.check(STEPS)


def test_watches_expired_with_410(cluster: ControlPlane, cluster_namespace: str) -> None:
    # watches cut often so that they are reopened from a resourceVersion, which then expires
    # Pods' and Workflows' watches only: a task-result informer lagging behind the pods is
    # test_task_results_lagging_behind_pods.
    # Each informer's expiries come in a row (410, backoff, relist, watch, 410 ...): the pods'
    # must all pass before the fan can finish, so the counts hold however fast the run goes.
    proxy = FaultProxy(cluster, seed=2, cut_watch_after=(0.5, 2.0), expire={"/pods": 3, "/workflows": 2})
    run = asyncio.run(_through(proxy, cluster, cluster_namespace))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.expire["/pods"] == 0, dict(proxy.stats)
    # the workflows' first watch is cut within 2 s, before the pods' row (>= 0.5+0.8+1.6 s) ends
    assert proxy.stats["410_http"] >= 2 and proxy.stats["410_event"] >= 2, dict(proxy.stats)
    run.check(STEPS)


def test_task_results_lagging_behind_pods(cluster: ControlPlane, cluster_namespace: str) -> None:
    # every task-result watch opens 3 s late: results reach the controller after their pods
    proxy = FaultProxy(cluster, seed=7, watch_delay=3.0, watch_delay_path="/workflowtaskresults")
    run = asyncio.run(_through(proxy, cluster, cluster_namespace, n=20))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.stats["watch_delayed"] >= 1, dict(proxy.stats)
    run.check(20)


def test_429_storms(cluster: ControlPlane, cluster_namespace: str) -> None:
    # 0.5 s of every 1.5 s the apiserver "is overloaded": every request, watches included, gets 429;
    # and 2 of every 10 requests are shed with 429 (time windows alone can miss a fast controller's bursts)
    proxy = FaultProxy(cluster, seed=3, storm=(1.5, 0.5), shed=(10, 2))
    run = asyncio.run(_through(proxy, cluster, cluster_namespace))
    print(f"faults: {dict(proxy.stats)}; {run.seconds:.1f} s")
    assert proxy.stats["429"] >= 10, dict(proxy.stats)
    run.check(STEPS)


def test_concurrent_writer_causes_409s(cluster: ControlPlane, cluster_namespace: str) -> None:
    ns = cluster_namespace
    # The writer below races the controller, so how many status PUTs it beats depends on the
    # timings; the proxy's own foreign write just before each of the first 3 makes those 409 for sure.
    proxy = FaultProxy(cluster, seed=4, conflict={"/workflows/": 3})
    written: list[int] = []

    async def main() -> tuple[FanRun, dict]:
        other = direct_api(cluster)

        async def writer() -> None:
            i = 0
            while True:
                try:
                    await other.patch(base.WORKFLOWS, "fan", {"metadata": {"annotations": {
                        "example.com/touched": str(i)}}}, namespace=ns)
                    written.append(i)
                    i += 1
                except NotFound:
                    pass  # not submitted yet
                await asyncio.sleep(0.03)

        task = asyncio.ensure_future(writer())
        try:
            run = await _through(proxy, cluster, ns, status_interval=0.1)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            return run, await other.get(base.WORKFLOWS, "fan", namespace=ns)
        finally:
            await other.close()

    run, final = asyncio.run(main())
    # the other writer's last annotation survived the controller's status writes (the patch in
    # flight when the writer was cancelled may have landed too)
    assert final["metadata"]["annotations"]["example.com/touched"] in (str(written[-1]), str(written[-1] + 1))
    print(f"409s: {dict(proxy.stats)}; {len(written)} foreign writes; {run.status_writes} status writes")
    assert proxy.stats["409 workflows"] >= 3, dict(proxy.stats)
    run.check(STEPS)


KILL_STEPS = 500


@pytest.mark.parametrize("seed", range(10))
def test_killed_at_random_points(cluster: ControlPlane, cluster_namespace: str, seed: int) -> None:
    """Killed after a random write (one to three times), restarted on the same apiserver."""
    rng = random.Random(seed)
    # a clean 500-step run makes about 1,010 controller writes: ~510 until the final status (pods,
    # status, events), then the ~500 task-result deletes (after it, as Argo orders them); kill
    # points fall among the writes before the workflow is recorded complete
    kills = tuple(rng.randint(1, 500) for _ in range(rng.randint(1, 3)))
    run = asyncio.run(run_fan(cluster, cluster_namespace, KILL_STEPS, make_api=lambda: direct_api(cluster),
                              kills=kills, timeout=600, status_interval=0.5))  # a wait, not a speed limit
    print(f"seed {seed}: kills after writes {kills}, {run.lives} lives, {run.seconds:.1f} s, "
          f"writes {dict(run.writes)}")
    # the first kill point always falls inside the run; later ones may come after the end
    assert run.lives >= 2, "the controller was never killed"
    assert run.lives <= len(kills) + 1
    run.check(KILL_STEPS)
