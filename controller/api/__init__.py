"""The controller's API boundary: the `Api` interface, its typed errors and resource constants.

Implementations: `EmbeddedApi` (in-process, optional SQLite persistence) here; the kube-apiserver
client over HTTP plugs in beside it (`http.py`) and passes the same `tests/contract/` suite.
"""
from .base import (CLUSTER_WORKFLOW_TEMPLATES, CONFIG_MAPS, CRON_WORKFLOWS, EVENTS, LEASES, NAMESPACES,
                   NODES, PERSISTENT_VOLUME_CLAIMS, POD_DISRUPTION_BUDGETS, PODS, SECRETS, SERVICE_ACCOUNTS,
                   WORKFLOW_ARTIFACT_GC_TASKS,
                   WORKFLOW_TASK_RESULTS, WORKFLOW_TASK_SETS, WORKFLOW_TEMPLATES, WORKFLOWS, Api, EventType,
                   ListResult, PatchType, Preconditions, Propagation, Resource, WatchEvent, WatchStream,
                   object_key, resource_version)
from .embedded import EmbeddedApi
from .errors import (AlreadyExists, ApiError, BadRequest, Conflict, Forbidden, Gone, InternalError, Invalid,
                     MethodNotAllowed, NotFound, ServerTimeout, StatusCause, TooManyRequests, Unauthorized,
                     UnsupportedMediaType, from_status, to_status)
from .selectors import label_selector_string, parse_field_selector, parse_label_selector
from .sqlite import StoreLocked

__all__ = [
    "Api", "EmbeddedApi", "Resource", "EventType", "WatchEvent", "WatchStream", "ListResult", "PatchType",
    "Propagation", "Preconditions", "object_key", "resource_version",
    "WORKFLOWS", "WORKFLOW_TEMPLATES", "CLUSTER_WORKFLOW_TEMPLATES", "CRON_WORKFLOWS",
    "WORKFLOW_TASK_RESULTS", "WORKFLOW_TASK_SETS", "WORKFLOW_ARTIFACT_GC_TASKS", "PODS", "CONFIG_MAPS",
    "SECRETS", "PERSISTENT_VOLUME_CLAIMS", "EVENTS", "LEASES", "NODES", "SERVICE_ACCOUNTS", "NAMESPACES",
    "POD_DISRUPTION_BUDGETS",
    "ApiError", "BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed", "AlreadyExists",
    "Conflict", "Gone", "UnsupportedMediaType", "Invalid", "TooManyRequests", "InternalError",
    "ServerTimeout", "StatusCause", "from_status", "to_status",
    "parse_label_selector", "parse_field_selector", "label_selector_string", "StoreLocked",
]
