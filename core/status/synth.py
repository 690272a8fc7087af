"""Realistic generated node statuses, for tests, benchmarks and training the compact dictionary.

A seeded generator (no clock, no I/O) that builds `status.nodes` the way a real run of this
workflow leaves it, as JSON-shaped builtins with Argo's field names:

    main (DAG)
      prepare                     Pod, outputs a JSON list of shards
      fan    withParam(shards)    TaskGroup → fan(i:{id,size})  Pod (some retried: Retry → (0), (1))
      shard  withSequence         TaskGroup → shard(i:i)        Steps → [0].extract, [1].transform
      aggregate                   Pod, depends on fan and shard
    onExit: notify                Pod, a second root

IDs and pod names come from `ids`; timestamps are second-resolution RFC3339; Pods carry
resourcesDuration proportional to their run time, host names from a pool, a progress, inputs
with the loop item, output parameters, a result, an exit code, and (when archived) a main-logs
artifact whose key contains the pod name. A few attempts fail with Argo's message.
"""
from __future__ import annotations

import calendar
import random
import time
from typing import Any

from tiphys.core.status import ids

__all__ = ["synthetic_nodes", "rfc3339"]


def rfc3339(epoch: int, /) -> str:
    """Second-resolution UTC RFC3339, as Go's metav1.Time marshals it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class _Builder:
    def __init__(self, wf: str, rng: random.Random, start: int) -> None:
        self.wf, self.rng, self.start = wf, rng, start
        self.nodes: dict[str, dict[str, Any]] = {}
        self.hosts = [f"ip-10-{rng.randrange(0, 4)}-{rng.randrange(0, 256)}-{rng.randrange(1, 255)}"
                      f".ec2.internal" for _ in range(40)]

    def add(self, name: str, type_: str, template: str | None, boundary: str | None, *,
            started: int, finished: int | None, phase: str = "Succeeded", **extra: Any) -> dict:
        wf = self.wf
        nid = ids.node_id(wf, name)
        boundary_name = self.nodes[boundary]["name"] if boundary else None
        node: dict[str, Any] = {"id": nid, "name": name,
                                "displayName": ids.display_name(name, boundary_name),
                                "type": type_, "phase": phase, "startedAt": rfc3339(started)}
        if template:
            node["templateName"] = template
            node["templateScope"] = f"local/{wf}"
        if boundary:
            node["boundaryID"] = boundary
        if finished is not None:
            node["finishedAt"] = rfc3339(finished)
        node.update(extra)
        self.nodes[nid] = node
        return node

    def pod(self, name: str, template: str, boundary: str, started: int, *, phase: str = "Succeeded",
            params: dict[str, str] | None = None, inputs: dict[str, str] | None = None,
            result: str | None = None, retried: bool = False) -> dict:
        rng = self.rng
        duration = rng.randint(4, 240)
        finished = started + duration
        cpu, mem_units = {"process": (1, 1), "extract": (2, 4), "transform": (1, 8)}.get(template, (1, 1))
        node = self.add(name, "Pod", template, boundary, started=started, finished=finished, phase=phase,
                        progress="1/1" if phase == "Succeeded" else "0/1",
                        resourcesDuration={"cpu": duration * cpu, "memory": duration * mem_units},
                        hostNodeName=rng.choice(self.hosts), taskResultSynced=True)
        outputs: dict[str, Any] = {"exitCode": "0" if phase == "Succeeded" else "1"}
        if phase != "Succeeded":
            node["message"] = "Error (exit code 1)"
        if params:
            outputs["parameters"] = [{"name": k, "value": v} for k, v in params.items()]
        if result is not None:
            outputs["result"] = result
        if rng.random() < 0.3:  # logs archived for some templates' runs
            pod = ids.pod_name(self.wf, name, template)
            outputs["artifacts"] = [{"name": "main-logs", "s3": {"key": f"{self.wf}/{pod}/main.log"}}]
        node["outputs"] = outputs
        if inputs:
            node["inputs"] = {"parameters": [{"name": k, "value": v} for k, v in inputs.items()]}
        if retried:
            node["nodeFlag"] = {"retried": True}
        return node


def synthetic_nodes(count: int = 5000, /, *, seed: int = 0, workflow_name: str | None = None,
                    start: int = 1_790_000_000) -> dict[str, dict[str, Any]]:
    """About `count` nodes (exactly `count`) of one realistic run, id → node."""
    if count < 12:
        raise ValueError(f"synthetic_nodes: need at least 12 nodes, got {count}")
    rng = random.Random(seed)
    wf = workflow_name or f"etl-nightly-{''.join(rng.choices('bcdfghjklmnpqrstvwxz2456789', k=5))}"
    b = _Builder(wf, rng, start)
    t = start
    root = b.add(wf, "DAG", "main", None, started=t, finished=None, phase="Running", progress="0/1")
    root_id = root["id"]
    prep_name = ids.task_name(wf, "prepare")
    shards = max(1, (count - 8) // 10)
    fan_budget = count - 6 - 5 * shards
    prep = b.pod(prep_name, "prepare", root_id, t + 1, params={"shards": str(shards)},
                 result=f"prepared {fan_budget} partitions")
    t_fan = t + 1 + 30

    fan_tg = b.add(ids.task_name(wf, "fan"), "TaskGroup", None, root_id, started=t_fan, finished=None)
    shard_tg = b.add(ids.task_name(wf, "shard"), "TaskGroup", None, root_id, started=t_fan, finished=None)
    aggregate_name = ids.task_name(wf, "aggregate")
    aggregate_id = ids.node_id(wf, aggregate_name)
    prep["children"] = [fan_tg["id"], shard_tg["id"]]

    fan_children, last_finish, i = [], t_fan, 0
    while fan_budget > 0:
        part = f"p{rng.randrange(16**6):06x}"
        size = rng.randrange(1, 5000)
        name = ids.loop_child_name(fan_tg["name"], i, f"id:{part},size:{size}")
        started = t_fan + i // 50 + rng.randrange(0, 3)
        item = f'{{"id":"{part}","size":{size}}}'
        result = str(rng.randrange(10**7))
        if fan_budget >= 3 and rng.random() < 0.05:
            attempts = [b.pod(ids.retry_child_name(name, k), "process", root_id, started + 250 * k,
                              phase="Failed" if k == 0 else "Succeeded", inputs={"item": item},
                              params={"rows": result}, result=result, retried=True) for k in range(2)]
            retry = b.add(name, "Retry", "process", root_id, started=started,
                          finished=_epoch(attempts[-1]["finishedAt"]),
                          progress="1/1", children=[a["id"] for a in attempts],
                          inputs={"parameters": [{"name": "item", "value": item}]},
                          outputs=attempts[-1]["outputs"])
            attempts[-1]["children"] = [aggregate_id]
            fan_budget -= 3
            node = retry
        else:
            node = b.pod(name, "process", root_id, started, inputs={"item": item},
                         params={"rows": result}, result=result)
            node["children"] = [aggregate_id]
            fan_budget -= 1
        fan_children.append(node["id"])
        last_finish = max(last_finish, _epoch(node["finishedAt"]))
        i += 1
    fan_tg["children"] = fan_children
    fan_tg["finishedAt"], fan_tg["progress"] = rfc3339(last_finish), f"{len(fan_children)}/{len(fan_children)}"

    shard_children = []
    for k in range(shards):
        name = ids.loop_child_name(shard_tg["name"], k, str(k))
        started = t_fan + k // 20
        steps = b.add(name, "Steps", "shard-steps", root_id, started=started, finished=None,
                      inputs={"parameters": [{"name": "shard", "value": str(k)}]})
        g0 = b.add(ids.step_group_name(name, 0), "StepGroup", None, steps["id"], started=started, finished=None)
        ex = b.pod(ids.step_name(g0["name"], "extract"), "extract", steps["id"], started + 1,
                   params={"path": f"s3://lake/raw/{wf}/shard-{k:04d}.parquet"})
        g1 = b.add(ids.step_group_name(name, 1), "StepGroup", None, steps["id"], started=_epoch(ex["finishedAt"]),
                   finished=None)
        tr = b.pod(ids.step_name(g1["name"], "transform"), "transform", steps["id"],
                   _epoch(ex["finishedAt"]) + 1, result=str(rng.randrange(10**6)))
        end = tr["finishedAt"]
        for n in (steps, g0, g1):
            n["finishedAt"], n["progress"] = end, "1/1" if n is not steps else "2/2"
        g0["finishedAt"] = ex["finishedAt"]
        steps["children"], g0["children"], ex["children"] = [g0["id"]], [ex["id"]], [g1["id"]]
        g1["children"], tr["children"] = [tr["id"]], [aggregate_id]
        steps["outboundNodes"] = [tr["id"]]
        shard_children.append(steps["id"])
        last_finish = max(last_finish, _epoch(end))
    shard_tg["children"] = shard_children
    shard_tg["finishedAt"], shard_tg["progress"] = rfc3339(last_finish), f"{2 * shards}/{2 * shards}"

    agg = b.pod(aggregate_name, "aggregate", root_id, last_finish + 2, params={"total": str(rng.randrange(10**9))})
    root["children"] = [prep["id"]]
    root["outboundNodes"] = [agg["id"]]
    end = _epoch(agg["finishedAt"])
    root.update(phase="Succeeded", finishedAt=rfc3339(end), progress=f"{count - 4}/{count - 4}")
    b.pod(ids.exit_handler_name(wf), "notify", "", end + 1)
    exit_node = b.nodes[ids.node_id(wf, ids.exit_handler_name(wf))]
    exit_node.pop("boundaryID", None)
    exit_node["displayName"] = exit_node["name"]
    exit_node["nodeFlag"] = {"hooked": True}
    return b.nodes


def _epoch(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))
