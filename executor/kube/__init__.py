"""tiphys.executor.kube: the executor's one way to the API server.

* `client` -- `KubeClient`, the small async protocol the executor's commands act through, and
  `PatchKind`;
* `incluster` -- `InClusterClient`, its implementation in a real pod (service-account token and
  CA, KUBERNETES_SERVICE_HOST/PORT, discovery, client-go's retries);
* `kinds` -- which resource a manifest or a kubectl type argument names (`BUILTIN`, `KindTable`);
* `errors` -- the API's refusals, typed from the HTTP status (`KubeError` and its subclasses);
* `watch` -- `WatchStream`, a collection followed by watch across reconnects, its `WatchEvent`s,
  and `Snapshot`, the list to start it from;
* `taskresults` -- `api_sink`: a WorkflowTaskResult written as Argo's executor writes it
  (create, else merge-patch), used by `wait` and `resource`.
"""
from .client import KubeClient, PatchKind
from .errors import (KubeAlreadyExists, KubeConflict, KubeError, KubeGone, KubeNotFound, KubeUnsupportedMediaType,
                     NotInCluster)
from .incluster import SERVICE_ACCOUNT_DIR, InClusterClient
from .kinds import BUILTIN, KindInfo, KindTable, UnknownKind
from .taskresults import TASK_RESULT_KIND, api_sink, task_result_patch
from .watch import Snapshot, WatchEvent, WatchEventType, WatchStream

__all__ = [
    "BUILTIN", "InClusterClient", "KindInfo", "KindTable", "KubeAlreadyExists", "KubeClient", "KubeConflict",
    "KubeError", "KubeGone", "KubeNotFound", "KubeUnsupportedMediaType", "NotInCluster", "PatchKind",
    "SERVICE_ACCOUNT_DIR", "Snapshot", "TASK_RESULT_KIND", "UnknownKind", "WatchEvent", "WatchEventType", "WatchStream",
    "api_sink", "task_result_patch",
]
