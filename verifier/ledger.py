"""The contract calls a verifier makes, with JSON in and out."""
from __future__ import annotations

import json
from typing import Any

from trainproof.gateway import Contract


class Ledger:
    def __init__(self, contract: Contract) -> None:
        self.contract = contract

    def _query(self, function: str, *args: str) -> dict[str, Any]:
        return json.loads(self.contract.evaluate(function, list(args)))

    def model(self, model_id: str) -> dict[str, Any]:
        return self._query("GetModel", model_id)

    def assignment(self, model_id: str) -> dict[str, Any]:
        return self._query("GetAssignment", model_id)

    def votes(self, model_id: str, interval: int) -> list[dict[str, Any]]:
        return self._query("GetVotes", model_id, str(interval))["votes"]

    def assign(self, model_id: str) -> dict[str, Any]:
        return json.loads(self.contract.submit("AssignVerifiers", [model_id]))

    def expire(self, model_id: str) -> dict[str, Any]:
        return json.loads(self.contract.submit("ExpireAssignment", [model_id]))

    def vote(self, model_id: str, interval: int, verdict: str, evidence: dict[str, Any]) -> dict[str, Any]:
        args = [model_id, str(interval), verdict, json.dumps(evidence, sort_keys=True)]
        return json.loads(self.contract.submit("SubmitVote", args))
