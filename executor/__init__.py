"""tiphys.executor: what runs inside a workflow pod.

* `wrapper/` -- the static C main-container wrapper (Argo's emissary file protocol);
* `init` -- template, script and input artifacts staged before main starts;
* `wait` / `outputs` / `taskresult` -- outputs collected after main exits and reported as a
  WorkflowTaskResult through an injected sink (`runtime.task_result_sink`: the node agent's file
  relay, else the API);
* `kube/` -- the one API client (in-cluster: service-account token, discovery), shared by `wait`,
  `resource`, `data` and the agent, and the task-result API sink (create, else merge-patch);
* `artifacts/` -- the repository facade and its drivers (local, S3 with SigV4, HTTP, git, raw);
* `argosay` -- Argo's test-image verbs, built in;
* `cowsay` -- cowsay/cowthink as `docker/whalesay` (and `argoproj/argosay:v1`) have them;
* `resource/` -- `argoexec resource <action>`, the main process of resource templates.
* `data` -- `argoexec data`, the main process of data templates (list a location, transform
  the list in expr-lang, report the JSON as `outputs.result`).
"""
from ._errors import (
    ArtifactConfigError,
    ArtifactError,
    ArtifactNotFound,
    ExecutorError,
    OutputError,
    S3Error,
    TemplateError,
    UnsafeArchive,
    WaitTimeout,
    WrapperBuildError,
)
from .init import run_init
from .paths import ExecutorPaths
from .taskresult import TaskResultSink, build_task_result
from .wait import WaitOutcome, WaitSettings, run_wait

__all__ = [
    "ArtifactConfigError",
    "ArtifactError",
    "ArtifactNotFound",
    "ExecutorError",
    "ExecutorPaths",
    "OutputError",
    "S3Error",
    "TaskResultSink",
    "TemplateError",
    "UnsafeArchive",
    "WaitOutcome",
    "WaitSettings",
    "WaitTimeout",
    "WrapperBuildError",
    "build_task_result",
    "run_init",
    "run_wait",
]
