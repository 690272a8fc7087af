"""Grants from deploy/'s RBAC for the in-cluster executor tests: a Role of
`deploy/base/workflow-rbac.yaml`, created in the test's namespace and bound to a user, so a test
runs an executor command with exactly the rights a deployment gives it."""
from __future__ import annotations

import yaml

from tests.conftest import REPO

__all__ = ["grant_deployed_role"]


def grant_deployed_role(rest, ns: str, user, role_name: str, /) -> None:
    """Create deploy/'s Role `role_name` in `ns` and a RoleBinding of the same name to `user`."""
    docs = [d for d in yaml.safe_load_all((REPO / "deploy" / "base" / "workflow-rbac.yaml").read_text()) if d]
    role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == role_name)
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", role)
    rest.post(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", {
        "metadata": {"name": role_name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [{"kind": "User", "name": user.name, "apiGroup": "rbac.authorization.k8s.io"}]})
