"""HttpApi.delete_collection against a scripted server: the request it sends and the answers it reads
(the behaviour itself is the contract suite's, tests/contract/test_contract_delete_collection.py)."""
from __future__ import annotations

import json

import pytest

from tiphys.controller.api import (CLUSTER_WORKFLOW_TEMPLATES, PODS, WORKFLOW_TASK_RESULTS, BadRequest, Forbidden,
                                   Propagation)
from tiphys.controller.api._http_config import static_token
from tiphys.controller.api.http import HttpApi, HttpConfig

from ._fake_server import FakeServer, InstantClock, Reply, status_body

TR = "/apis/argoproj.io/v1alpha1/namespaces/ns/workflowtaskresults"
PODS_PATH = "/api/v1/namespaces/ns/pods"


def make_api(server: FakeServer) -> HttpApi:
    return HttpApi(HttpConfig(server=server.url, token=static_token("tok")), clock=InstantClock())


async def test_delete_on_the_collection_url_with_selectors_and_options():
    """One DELETE on the namespaced collection: selectors as query parameters, DeleteOptions as the
    body; the answer's items come back, typed as `list` types them."""
    answer = {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
              "items": [{"metadata": {"name": "a", "namespace": "ns"}}, {"metadata": {"name": "b", "namespace": "ns"}}]}
    async with FakeServer() as server:
        server.script("DELETE", PODS_PATH, Reply(body=answer))
        api = make_api(server)
        try:
            gone = await api.delete_collection(PODS, namespace="ns", label_selector="w=x,!keep",
                                               field_selector="status.phase=Succeeded",
                                               propagation=Propagation.FOREGROUND, grace_period_seconds=0)
        finally:
            await api.close()
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in gone] == [("v1", "Pod", "a"), ("v1", "Pod", "b")]
    [seen] = server.seen
    assert (seen.method, seen.path) == ("DELETE", PODS_PATH)
    assert seen.query == {"labelSelector": "w=x,!keep", "fieldSelector": "status.phase=Succeeded"}
    assert json.loads(seen.body) == {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground",
                                     "gracePeriodSeconds": 0}


async def test_background_by_default_and_no_selector_sends_none():
    """Argo's clean-up sends Background propagation; no selector means no query parameters."""
    async with FakeServer() as server:
        server.script("DELETE", TR, Reply(body={"kind": "WorkflowTaskResultList", "items": []}))
        api = make_api(server)
        try:
            assert await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace="ns") == []
        finally:
            await api.close()
    [seen] = server.seen
    assert seen.query == {} and json.loads(seen.body)["propagationPolicy"] == "Background"


async def test_status_answer_names_nothing():
    """A server answering with a Status (not the list it deleted) gives None, not an empty list."""
    async with FakeServer() as server:
        server.script("DELETE", TR, Reply(body={"kind": "Status", "apiVersion": "v1", "status": "Success"}))
        api = make_api(server)
        try:
            assert await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace="ns", label_selector="a=b") is None
        finally:
            await api.close()


async def test_refusals_are_typed_and_scope_is_checked_first():
    """A 403 (RBAC without deletecollection) is Forbidden; a missing or superfluous namespace is
    refused before the network (the apiserver serves DeleteCollection per namespace only)."""
    async with FakeServer() as server:
        server.script("DELETE", TR, Reply(403, status_body(403, "Forbidden", "cannot deletecollection")))
        api = make_api(server)
        try:
            with pytest.raises(BadRequest, match="namespaced"):
                await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace=None)
            with pytest.raises(BadRequest, match="cluster-scoped"):
                await api.delete_collection(CLUSTER_WORKFLOW_TEMPLATES, namespace="ns")
            assert server.seen == []
            with pytest.raises(Forbidden):
                await api.delete_collection(WORKFLOW_TASK_RESULTS, namespace="ns")
        finally:
            await api.close()
    assert len(server.seen) == 1  # a write's 403 is not retried
