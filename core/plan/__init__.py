"""The reconcile decision: spec + observed pods and task results -> node statuses and actions.

    ex = new_execution(meta, spec, status, nodes)      # once per workflow (uid, generation)
    result = plan(ex, Observed(pods=[...]), now)      # per reconcile: only woken frames work
    result.actions                                     # CreatePod, DeletePod, ... for the applier

Pure: no asyncio, no HTTP, no clock (`now` is an argument).
"""
from tiphys.core.plan.actions import (Action, CompleteTaskSet, CreatePod, CreatePVC, DeletePod, DeletePVC,
                                      DeleteTaskResults, DeleteWorkflow, EmitEvent, PruneTaskSet, PutTaskSet,
                                      SignalPod)
from tiphys.core.plan.execution import Execution
from tiphys.core.plan.meta import PodSettings, WorkflowMeta
from tiphys.core.plan.planner import Observed, PlanResult, new_execution, plan

__all__ = ["plan", "new_execution", "Observed", "PlanResult", "Execution", "WorkflowMeta", "PodSettings",
           "Action", "CreatePod", "DeletePod", "SignalPod", "CreatePVC", "DeletePVC", "EmitEvent",
           "DeleteTaskResults", "DeleteWorkflow", "PutTaskSet", "PruneTaskSet", "CompleteTaskSet"]
