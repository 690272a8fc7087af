"""Moved to `tiphys.executor.kube.incluster` (the client `wait` and the agent share); this name
stays for the imports that still use it (tests/deploy/test_agent_rbac.py)."""
from ..kube.incluster import SERVICE_ACCOUNT_DIR, InClusterClient

__all__ = ["SERVICE_ACCOUNT_DIR", "InClusterClient"]
