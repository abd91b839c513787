"""GetLineage: ancestors to the root and every descendant, with each node's status."""
from __future__ import annotations

import uuid

import pytest

from tests.contract.factories import Cast, Net, model_payload

pytestmark = pytest.mark.unit


def test_three_generations(net: Net):
    root = model_payload(name="base")
    net.call(Cast.client1, "SubmitModel", root)
    kids = [model_payload(parent=root["model_id"], name=f"child{i}") for i in range(2)]
    for kid in kids:
        net.call(Cast.client2, "SubmitModel", kid)
    grandchild = model_payload(parent=kids[0]["model_id"], name="grandchild")
    net.call(Cast.client1, "SubmitModel", grandchild)

    from_leaf = net.call(Cast.client2, "GetLineage", grandchild["model_id"])
    assert from_leaf["model"]["model_id"] == grandchild["model_id"]
    assert [n["name"] for n in from_leaf["ancestors"]] == ["child0", "base"]
    assert all(n["status"] == "SUBMITTED" for n in from_leaf["ancestors"])
    assert from_leaf["descendants"] == [] and from_leaf["truncated"] is False

    from_root = net.call(Cast.client2, "GetLineage", root["model_id"])
    assert from_root["ancestors"] == []
    below = {n["name"]: (n["depth"], n["parent_id"]) for n in from_root["descendants"]}
    assert below == {"child0": (1, root["model_id"]), "child1": (1, root["model_id"]),
                     "grandchild": (2, kids[0]["model_id"])}
    assert [n["depth"] for n in from_root["descendants"]] == [1, 1, 2]  # breadth first

    middle = net.call(Cast.client2, "GetLineage", kids[0]["model_id"])
    assert [n["name"] for n in middle["ancestors"]] == ["base"]
    assert [n["name"] for n in middle["descendants"]] == ["grandchild"]


def test_lineage_shows_status_changes(net: Net):
    root = model_payload()
    net.call(Cast.client1, "SubmitModel", root)
    child = model_payload(parent=root["model_id"])
    net.call(Cast.client1, "SubmitModel", child)
    net.call(Cast.admin2, "AssignVerifiers", root["model_id"])
    assert net.call(Cast.client1, "GetLineage", child["model_id"])["ancestors"][0]["status"] == "ASSIGNED"


def test_unknown_model_and_bad_ids(net: Net):
    net.refuse(Cast.client1, "GetLineage", str(uuid.uuid4()), status=404, match="unknown model")
    net.refuse(Cast.client1, "GetLineage", "../etc", status=400, match="not a lowercase UUID")
