"""The controller ConfigMap (`workflow-controller-configmap`), parsed the way Argo reads it.

Argo accepts its settings in two shapes (reference §5.19): every key at the top level of `data`,
nested values written as YAML strings, or one `config: |` key holding the whole document as
YAML. Both may appear together; a top-level key wins over the same key inside `config`, as in
Argo's `config/config.go`, which unmarshals `config` first and the flat keys over it.

`parse_configmap(cm)` turns the ConfigMap object into a frozen `ControllerConfig` or raises
`ConfigError` naming the key and the line that is wrong. Keys that Argo knows but tiphys does
not implement, and keys nobody knows, are not errors: they land in
`ControllerConfig.unsupported` so the process can log them once and export them as the
`tiphys_config_unsupported_keys` gauge.

What happens to each supported key: `executor`, `mainContainer`, `images`,
`podGCDeleteDelayDuration`, `podGCGracePeriodSeconds` and `disableAgentPodCreation` (no HTTP
agent pod: an agent run elsewhere serves the task sets) become `PodSettings` (hot: new workflows get them), `resourceRateLimit`
throttles pod creation and `initialDelay` delays new workflows' first reconcile (both hot),
`parallelism` and `namespaceParallelism` throttle whole workflows (`controller.throttle`, hot:
a raised limit admits waiters at once), `instanceID` and `metricsConfig` are read at start-up.
`workflowDefaults` is merged under workflows adopted afterwards and `artifactRepository` is the
repository of workflows no `artifact-repositories` ConfigMap serves (both hot; `core.plan.defaults`,
`core.plan.artifact_repo`). A key parsed but not acted on would be listed in
`ControllerConfig.inert` (`NOT_ENFORCED`), logged once and exported beside the unsupported keys,
so an operator is never silently ignored.

`ConfigWatcher` follows that one ConfigMap with an informer (field selector on its name) and
hot-reloads: each change is parsed, a good one replaces `current` and is handed to the
callbacks, a bad one is logged with its key and line and the last good config stays.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import msgspec
import yaml

from tiphys.controller.api import base
from tiphys.controller.clock import Clock
from tiphys.controller.informer import FuncHandler, Informer
from tiphys.core.plan.meta import KNOWN_IMAGES, PodSettings
from tiphys.core.plan.timeouts import DurationError, parse_duration

__all__ = ["ConfigError", "ControllerConfig", "MetricsConfig", "ResourceRateLimit", "ConfigWatcher",
           "parse_configmap", "SUPPORTED_KEYS", "NOT_ENFORCED"]

_log = logging.getLogger("tiphys.config")


class ConfigError(ValueError):
    """The ConfigMap cannot be used; `key` and `line` (1-based, within that key's YAML) say where."""

    def __init__(self, message: str, /, *, key: str, line: int | None = None) -> None:
        where = f"key {key!r}" + (f", line {line}" if line is not None else "")
        super().__init__(f"controller ConfigMap: {where}: {message}")
        self.key, self.line, self.detail = key, line, message


class ResourceRateLimit(msgspec.Struct, frozen=True):
    """Argo's `resourceRateLimit`: a token bucket over pod creation."""

    limit: float
    burst: int

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.burst < 1:
            raise ValueError(f"limit must be > 0 and burst >= 1 (got {self.limit}, {self.burst})")


class MetricsConfig(msgspec.Struct, frozen=True, rename="camel"):
    """Argo's `metricsConfig`; `metricsTTL` is a Go duration string there. Argo's newer fields
    (`modifiers`, `temporality`, ...) are accepted and ignored, so its ConfigMaps load unchanged."""

    enabled: bool = True
    path: str = "/metrics"
    port: int = 9090
    metrics_ttl: str = msgspec.field(default="", name="metricsTTL")
    ignore_errors: bool = False
    secure: bool = False
    honor_labels: bool = True


class _Container(msgspec.Struct, frozen=True, rename="camel"):
    """The parts of a Container spec that `executor` and `mainContainer` carry (others kept raw)."""

    image: str = ""
    image_pull_policy: str = ""
    resources: dict = {}
    security_context: dict | None = None


class _ImageInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    entrypoint: list[str] = []
    cmd: list[str] = []


class ControllerConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the controller takes from its ConfigMap. Defaults are Argo's when the key is absent."""

    instance_id: str = ""
    parallelism: int = 0  # 0: no limit
    namespace_parallelism: int = 0
    artifact_repository: dict | None = None
    workflow_defaults: dict | None = None
    pod_gc_grace_period_seconds: int | None = None
    pod_gc_delete_delay: str = "5s"
    resource_rate_limit: ResourceRateLimit | None = None
    executor: dict = {}
    main_container: dict = {}
    images: dict[str, dict[str, list[str]]] = {}
    metrics: MetricsConfig = MetricsConfig()
    initial_delay: float = 0.0
    disable_agent_pod_creation: bool = False  # HTTP templates: an external agent serves the task sets
    # Keys present in the ConfigMap that tiphys does not know or support, sorted.
    unsupported: tuple[str, ...] = ()
    # Supported keys present in the ConfigMap that are parsed but not acted on yet, sorted.
    inert: tuple[str, ...] = ()

    def pod_settings(self, base_settings: PodSettings, /, *, executor_image: str | None = None) -> PodSettings:
        """`base_settings` with the ConfigMap's executor/mainContainer/images/podGC values over it.

        `executor_image` (the `--executor-image` flag) wins over `executor.image`, as in Argo.
        """
        ex = msgspec.convert(self.executor, _Container)
        images = dict(KNOWN_IMAGES)
        images.update(self.images)
        return msgspec.structs.replace(
            base_settings,
            executor_image=executor_image or ex.image or base_settings.executor_image,
            executor_image_pull_policy=ex.image_pull_policy or base_settings.executor_image_pull_policy,
            executor_resources=ex.resources or base_settings.executor_resources,
            executor_security_context=(ex.security_context if ex.security_context is not None
                                       else base_settings.executor_security_context),
            main_container=self.main_container or base_settings.main_container,
            images=images, pod_gc_delete_delay=self.pod_gc_delete_delay,
            agent_pod_creation=not self.disable_agent_pod_creation,
            pod_gc_grace_period_seconds=(self.pod_gc_grace_period_seconds
                                         if self.pod_gc_grace_period_seconds is not None
                                         else base_settings.pod_gc_grace_period_seconds))


# Argo key -> (field name, the type its value must convert to).
_FIELDS: dict[str, tuple[str, Any]] = {
    "instanceID": ("instance_id", str),
    "parallelism": ("parallelism", int),
    "namespaceParallelism": ("namespace_parallelism", int),
    "artifactRepository": ("artifact_repository", dict),
    "workflowDefaults": ("workflow_defaults", dict),
    "podGCGracePeriodSeconds": ("pod_gc_grace_period_seconds", int),
    "podGCDeleteDelayDuration": ("pod_gc_delete_delay", str),
    "resourceRateLimit": ("resource_rate_limit", ResourceRateLimit),
    "executor": ("executor", _Container),
    "mainContainer": ("main_container", dict),
    "images": ("images", dict[str, _ImageInfo]),
    "metricsConfig": ("metrics", MetricsConfig),
    "initialDelay": ("initial_delay", str),
    "disableAgentPodCreation": ("disable_agent_pod_creation", bool),
}
SUPPORTED_KEYS = frozenset(_FIELDS)
# Parsed and validated, but the engine has no hook for them yet (see the module docstring).
NOT_ENFORCED: frozenset[str] = frozenset()
_PATH = re.compile(r"at `\$([^`]*)`")


def _load_yaml(text: str, key: str) -> tuple[Any, yaml.Node | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        value = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(f"invalid YAML: {exc.problem or exc}", key=key,
                          line=mark.line + 1 if mark is not None else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", key=key) from None
    return value, node


def _line(node: yaml.Node | None, path: list[str | int]) -> int | None:
    """1-based line of `path` inside a composed YAML node (the deepest part that exists)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == part:
                    child, line = v, k.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _split(path: str) -> list[str | int]:
    """msgspec's error path (`.a[2].b`) as parts; a dict key it does not name (`[...]`) ends it."""
    parts: list[str | int] = []
    for name, index, unnamed in re.findall(r"\.([^.\[]+)|\[(\d+)\]|(\[\.\.\.\])", path):
        if unnamed:
            break
        parts.append(int(index) if index else name)
    return parts


def _convert(key: str, raw: Any, node: yaml.Node | None, path: list[str | int]) -> Any:
    """`raw` converted to key's type, or ConfigError at the offending line."""
    field_type = _FIELDS[key][1]
    try:
        value = msgspec.convert(raw, field_type, strict=False)
    except msgspec.ValidationError as exc:
        m = _PATH.search(str(exc))
        inner = _split(m.group(1)) if m else []
        detail = str(exc).split(" - at ")[0]
        raise ConfigError(detail + (f" at {key}" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                                           for p in inner) if inner else ""),
                          key=key, line=_line(node, path + inner)) from None
    if key == "initialDelay":
        try:
            value = parse_duration(value)
        except DurationError as exc:
            raise ConfigError(str(exc), key=key, line=_line(node, path)) from None
    if key in ("parallelism", "namespaceParallelism") and value < 0:
        # Argo takes a negative limit and then admits no workflow at all; 0 is its "no limit"
        raise ConfigError(f"must be >= 0 (0: no limit), got {value}", key=key, line=_line(node, path))
    if key == "workflowDefaults":
        for part in ("metadata", "spec"):  # a Workflow object: these two are what gets merged
            if value.get(part) is not None and not isinstance(value[part], dict):
                raise ConfigError(f"{part} must be a mapping (a Workflow's {part})", key=key,
                                  line=_line(node, path + [part]))
    if key == "podGCDeleteDelayDuration":
        try:
            parse_duration(value)
        except DurationError as exc:
            raise ConfigError(str(exc), key=key, line=_line(node, path)) from None
    if key == "executor":
        value = msgspec.to_builtins(raw)  # keep the whole container (env, args) beside what we read
    elif key == "images":
        value = {image: msgspec.structs.asdict(info) for image, info in value.items()}
    return value


def parse_configmap(configmap: dict, /) -> ControllerConfig:
    """The ConfigMap object (or None-like data) as a `ControllerConfig`; ConfigError when bad."""
    data = configmap.get("data") or {}
    if not isinstance(data, dict):
        raise ConfigError("data is not a mapping", key="data")
    # key -> (value, composed node of the document it came from, path to it in that node)
    found: dict[str, tuple[Any, yaml.Node | None, list[str | int], str]] = {}
    if "config" in data:
        doc, node = _load_yaml(str(data["config"]), "config")
        if doc is not None and not isinstance(doc, dict):
            raise ConfigError("must hold a YAML mapping", key="config", line=1)
        for key, value in (doc or {}).items():
            found[str(key)] = (value, node, [str(key)], "config")
    for key, text in data.items():
        if key == "config":
            continue
        value, node = _load_yaml(str(text), key)
        found[key] = (value, node, [], key)  # the flat key wins over the same key inside `config`
    fields: dict[str, Any] = {}
    unsupported: list[str] = []
    for key, (value, node, path, origin) in found.items():
        if key not in _FIELDS:
            unsupported.append(key)
            continue
        if value is None:
            continue
        try:
            fields[_FIELDS[key][0]] = _convert(key, value, node, path)
        except ConfigError as exc:
            if origin == "config":  # name the outer key too: the line counts from `config`'s start
                raise ConfigError(f"{key}: {exc.detail}", key="config", line=exc.line) from None
            raise
    inert = tuple(sorted(k for k, (v, *_) in found.items() if k in NOT_ENFORCED and v is not None))
    return ControllerConfig(**fields, unsupported=tuple(sorted(unsupported)), inert=inert)


class ConfigWatcher:
    """Follows one ConfigMap and keeps the last good `ControllerConfig` in `current`.

    `on_change(config)` callbacks run for every new good config (not for a bad one). A deleted
    ConfigMap keeps the last good config too: Argo does not fall back to defaults either.
    """

    def __init__(self, api: base.Api, name: str, /, *, namespace: str, clock: Clock) -> None:
        self.name, self.namespace = name, namespace
        self.current = ControllerConfig()
        self.last_error: ConfigError | None = None
        self.loads = 0  # good configs taken (the first included)
        self._reported: set[str] = set()
        self._callbacks: list[Callable[[ControllerConfig], object]] = []
        self.informer: Informer[dict] = Informer(api, base.CONFIG_MAPS, clock=clock, namespace=namespace,
                                                 field_selector=f"metadata.name={name}")
        self.informer.add_handler(FuncHandler(add=self._changed, update=lambda old, new: self._changed(new),
                                              delete=self._deleted))
        self._task: asyncio.Task | None = None

    def on_change(self, callback: Callable[[ControllerConfig], object], /) -> None:
        self._callbacks.append(callback)

    def _changed(self, configmap: dict) -> None:
        try:
            config = parse_configmap(configmap)
        except ConfigError as exc:
            self.last_error = exc
            _log.error("controller ConfigMap rejected, keeping the last good config: %s", exc,
                       extra={"configmap": f"{self.namespace}/{self.name}", "key": exc.key, "line": exc.line})
            return
        self.last_error = None
        for key in config.unsupported:
            if key not in self._reported:
                self._reported.add(key)
                _log.warning("controller ConfigMap key %r is not supported by tiphys and is ignored", key,
                             extra={"configmap": f"{self.namespace}/{self.name}", "key": key})
        for key in config.inert:
            if key not in self._reported:
                self._reported.add(key)
                _log.warning("controller ConfigMap key %r is read but not yet applied by tiphys", key,
                             extra={"configmap": f"{self.namespace}/{self.name}", "key": key})
        self.current = config
        self.loads += 1
        _log.info("controller ConfigMap loaded", extra={"configmap": f"{self.namespace}/{self.name}",
                                                         "resourceVersion": base.resource_version(configmap)})
        for callback in self._callbacks:
            callback(config)

    def _deleted(self, configmap: dict, final_state_unknown: bool) -> None:
        _log.warning("controller ConfigMap deleted; keeping the last good config",
                     extra={"configmap": f"{self.namespace}/{self.name}"})

    async def load(self) -> ControllerConfig:
        """Start following and wait for the first list (an absent ConfigMap leaves the defaults)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self.informer.run())
        await self.informer.wait_synced()
        return self.current

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
