"""CronWorkflows, the pure part: schedules (robfig/cron `ParseStandard` and `Next`, zones, DST),
the CronWorkflow read into a checked `CronSpec`, and `decide` — given the CronWorkflow, its child
workflows, `now` and what the shell has already handled, what to create, terminate, delete and
write to the status. No clock, no I/O: `tiphys.controller.cron` applies the decisions.
"""
from .decide import (SPEC_ERROR, SUBMISSION_ERROR, Decision, child_name, created, decide,
                     parse_rfc3339, rfc3339, upsert_condition, workflow_for)
from .errors import CronSpecError
from .schedule import Schedule, load_zone, parse_go_duration, parse_schedule
from .spec import (COMPLETED_LABEL, CRON_LABEL, INSTANCE_LABEL, LAST_USED_SCHEDULE_ANNOTATION, POLICIES,
                   SCHEDULED_TIME_ANNOTATION, Child, CronSpec, read_child, read_cron, schedule_string)

__all__ = [
    "COMPLETED_LABEL", "CRON_LABEL", "Child", "CronSpec", "CronSpecError", "Decision", "INSTANCE_LABEL",
    "LAST_USED_SCHEDULE_ANNOTATION", "POLICIES", "SCHEDULED_TIME_ANNOTATION", "SPEC_ERROR",
    "SUBMISSION_ERROR", "Schedule", "child_name", "created", "decide", "load_zone", "parse_go_duration",
    "parse_rfc3339", "parse_schedule", "read_child", "read_cron", "rfc3339", "schedule_string",
    "upsert_condition", "workflow_for",
]
