"""The controller ConfigMap: both of Argo's shapes, typed errors with key and line, hot reload."""
from __future__ import annotations

import logging

import pytest

from tiphys.controller.api import CONFIG_MAPS, EmbeddedApi
from tiphys.controller.config import ConfigError, ConfigWatcher, ControllerConfig, parse_configmap
from tiphys.core.plan.meta import PodSettings


def _cm(data: dict[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "workflow-controller-configmap", "namespace": "argo"}, "data": data}


NESTED = """\
instanceID: blue
parallelism: 10
namespaceParallelism: 4
initialDelay: 1m30s
podGCGracePeriodSeconds: 30
podGCDeleteDelayDuration: 20s
resourceRateLimit:
  limit: 10
  burst: 5
executor:
  image: example/exec:v1
  imagePullPolicy: IfNotPresent
  resources:
    requests: {cpu: 10m}
  securityContext:
    runAsNonRoot: true
mainContainer:
  resources:
    limits: {memory: 1Gi}
images:
  docker/whalesay:
    cmd: [cowsay]
metricsConfig:
  enabled: true
  path: /m
  port: 9191
artifactRepository:
  s3: {bucket: b, endpoint: minio:9000}
workflowDefaults:
  spec: {ttlStrategy: {secondsAfterCompletion: 60}}
"""


def test_config_key_holds_the_whole_document():
    """`data.config` as YAML: every supported key lands in its typed field."""
    c = parse_configmap(_cm({"config": NESTED}))
    assert c.instance_id == "blue" and c.parallelism == 10 and c.namespace_parallelism == 4
    assert c.initial_delay == 90.0 and c.pod_gc_grace_period_seconds == 30
    assert c.resource_rate_limit is not None and (c.resource_rate_limit.limit, c.resource_rate_limit.burst) == (10, 5)
    assert c.metrics.path == "/m" and c.metrics.port == 9191
    assert c.artifact_repository == {"s3": {"bucket": "b", "endpoint": "minio:9000"}}
    assert c.workflow_defaults == {"spec": {"ttlStrategy": {"secondsAfterCompletion": 60}}}
    assert c.unsupported == ()
    assert c.inert == ()  # every supported key is acted on (parallelism, defaults, artifact repository)


def test_settings_reach_pod_settings_and_the_flag_wins():
    """executor/mainContainer/images/podGC shape PodSettings; --executor-image beats executor.image."""
    c = parse_configmap(_cm({"config": NESTED}))
    s = c.pod_settings(PodSettings())
    assert s.executor_image == "example/exec:v1" and s.executor_image_pull_policy == "IfNotPresent"
    assert s.executor_resources == {"requests": {"cpu": "10m"}}
    assert s.executor_security_context == {"runAsNonRoot": True}
    assert s.main_container == {"resources": {"limits": {"memory": "1Gi"}}}
    assert s.images["docker/whalesay"] == {"entrypoint": [], "cmd": ["cowsay"]}
    assert "argoproj/argosay:v2" in s.images  # the built-in index stays
    assert s.pod_gc_grace_period_seconds == 30
    assert s.pod_gc_delete_delay == "20s"
    assert c.pod_settings(PodSettings(), executor_image="mine:1").executor_image == "mine:1"
    assert ControllerConfig().pod_settings(PodSettings()) .executor_image == PodSettings().executor_image


def test_flat_keys_and_precedence_over_config():
    """Top-level keys hold YAML strings; a flat key wins over the same key inside `config`."""
    c = parse_configmap(_cm({"config": "parallelism: 3\ninstanceID: a\n", "parallelism": "7",
                             "executor": "image: flat:1\n"}))
    assert c.parallelism == 7 and c.instance_id == "a"
    assert c.pod_settings(PodSettings()).executor_image == "flat:1"


def test_unknown_and_unsupported_keys_are_listed_not_fatal():
    c = parse_configmap(_cm({"config": "persistence:\n  archive: true\nparallelism: 2\n", "sso": "x: 1",
                             "noSuchKey": "1"}))
    assert c.unsupported == ("noSuchKey", "persistence", "sso") and c.parallelism == 2
    assert c.inert == ()  # parallelism is enforced (controller.throttle), so not reported as inert


def test_empty_configmap_gives_argo_defaults():
    c = parse_configmap(_cm({}))
    assert c == ControllerConfig()
    assert parse_configmap({"metadata": {"name": "x"}}) == ControllerConfig()


@pytest.mark.parametrize("data, key, line, words", [
    pytest.param({"config": "parallelism: 2\nresourceRateLimit:\n  limit: lots\n  burst: 1\n"},
                 "config", 3, "resourceRateLimit", id="wrong-type-nested"),
    pytest.param({"config": "parallelism: 2\nexecutor: [\n"}, "config", 3, "invalid YAML", id="bad-yaml"),
    pytest.param({"parallelism": "many"}, "parallelism", 1, "int", id="flat-wrong-type"),
    pytest.param({"initialDelay": "10 parsecs"}, "initialDelay", 1, "duration", id="bad-duration"),
    pytest.param({"metricsConfig": "enabled: true\nport: high\n"}, "metricsConfig", 2, "int",
                 id="nested-field-line"),
    pytest.param({"config": "- just\n- a list\n"}, "config", 1, "mapping", id="not-a-mapping"),
    pytest.param({"resourceRateLimit": "limit: 0\nburst: 1\n"}, "resourceRateLimit", 1, "limit must be > 0",
                 id="zero-rate"),
    pytest.param({"parallelism": "-1"}, "parallelism", 1, "must be >= 0", id="negative-parallelism"),
    pytest.param({"workflowDefaults": "metadata: {}\nspec: [a]\n"}, "workflowDefaults", 2, "spec must be a mapping",
                 id="defaults-spec-not-a-mapping"),
    pytest.param({"config": "instanceID: a\nnamespaceParallelism: -2\n"}, "config", 2,
                 "namespaceParallelism: must be >= 0", id="negative-namespace-parallelism"),
])
def test_malformed_configmap_names_key_and_line(data, key, line, words):
    with pytest.raises(ConfigError) as info:
        parse_configmap(_cm(data))
    err = info.value
    assert err.key == key and words in str(err)
    if line is not None:
        assert err.line == line and f"line {line}" in str(err)


async def test_watcher_hot_reloads_and_keeps_the_last_good_config(clock, settle, caplog):
    """A change is applied live; a broken change is logged (key, line) and the old config stays."""
    api = EmbeddedApi(clock=clock)
    await api.create(CONFIG_MAPS, _cm({"config": "parallelism: 1\nsso: {}\n"}), namespace="argo")
    watcher = ConfigWatcher(api, "workflow-controller-configmap", namespace="argo", clock=clock)
    seen: list[ControllerConfig] = []
    watcher.on_change(seen.append)
    caplog.set_level(logging.INFO, logger="tiphys.config")
    first = await watcher.load()
    assert first.parallelism == 1 and first.unsupported == ("sso",)
    live = await api.get(CONFIG_MAPS, "workflow-controller-configmap", namespace="argo")
    live["data"] = {"config": "parallelism: 5\nsso: {}\n"}
    live = await api.update(CONFIG_MAPS, live, namespace="argo")
    await settle()
    assert watcher.current.parallelism == 5 and [c.parallelism for c in seen] == [1, 5]
    live["data"] = {"config": "parallelism: 6\nexecutor:\n  image: 3\n"}
    live = await api.update(CONFIG_MAPS, live, namespace="argo")
    await settle()
    assert watcher.current.parallelism == 5 and len(seen) == 2
    assert watcher.last_error is not None and watcher.last_error.line == 3
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "line 3" in errors[-1].getMessage()
    # the unsupported key was reported once, not on every reload
    assert sum("'sso'" in r.getMessage() for r in caplog.records) == 1
    await watcher.stop()


async def test_watcher_without_configmap_uses_defaults(clock, settle):
    api = EmbeddedApi(clock=clock)
    watcher = ConfigWatcher(api, "workflow-controller-configmap", namespace="argo", clock=clock)
    assert await watcher.load() == ControllerConfig()
    await api.create(CONFIG_MAPS, _cm({"parallelism": "9"}), namespace="argo")
    await settle()
    assert watcher.current.parallelism == 9
    await watcher.stop()
