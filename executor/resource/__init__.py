"""tiphys.executor.resource: `argoexec resource <action>`, the main process of a resource template.

* `command` -- `run_resource`: the action, the wait on success/failure conditions, the output
  parameters, the task result (Argo's order);
* `actions` -- get, create, apply, delete, replace, patch over a `kube.KubeClient`;
* `flags` -- the kubectl flags a template may pass;
* `conditions` -- Argo's label-selector conditions over the live object; `jsonpath` -- kubectl's
  JSONPath templates for `valueFrom.jsonPath`.

The API client, kind lookup and API errors live in `tiphys.executor.kube` (shared with `wait`
and the agent); they are re-exported here because they are the command's vocabulary too.
"""
from ..kube import (BUILTIN, KindInfo, KindTable, KubeAlreadyExists, KubeClient, KubeConflict, KubeError,
                    KubeNotFound, KubeUnsupportedMediaType, PatchKind, UnknownKind)
from .actions import ACTIONS, Target
from .command import FAILURE_EXIT_CODE, ResourceOutcome, ResourceSettings, run_resource
from .conditions import Requirement, Verdict, evaluate, parse_condition
from .errors import ResourceError, ResourceFailed
from .flags import Flags, parse_flags
from .jsonpath import JsonPathError, render

__all__ = [
    "ACTIONS", "BUILTIN", "FAILURE_EXIT_CODE", "Flags", "JsonPathError", "KindInfo", "KindTable",
    "KubeAlreadyExists", "KubeClient", "KubeConflict", "KubeError", "KubeNotFound", "KubeUnsupportedMediaType",
    "PatchKind", "Requirement", "ResourceError", "ResourceFailed", "ResourceOutcome", "ResourceSettings",
    "Target", "UnknownKind", "Verdict", "evaluate", "parse_condition", "parse_flags", "render", "run_resource",
]
