"""The JSON Schemas that ship with the contract (``schema/*.json``) and how refusals read.

Integers are strict: ``1.0`` is not an integer and ``true`` is not a number, so a stored
certificate never holds a value its schema did not mean.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match

from trainproof.chaincode.shim.stub import ChaincodeError

SCHEMA_DIR = Path(__file__).with_name("schema")
MODEL_SUBMISSION = "model_submission"
VOTE_EVIDENCE = "vote_evidence"
VERIFIER_REGISTRATION = "verifier_registration"
ATTESTATION_REQUEST = "attestation_request"
ATTESTATION_CHECK = "attestation_check"
DATA_KEYS = "data_keys"
DATA_GRANT = "data_grant"


def _is_int(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_int),
)


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def _validator(name: str) -> Draft202012Validator:
    return StrictValidator(schema(name))


def validate(name: str, instance: Any) -> None:
    error = best_match(_validator(name).iter_errors(instance))
    if error is not None:
        where = "/" + "/".join(str(p) for p in error.absolute_path)
        raise ChaincodeError(f"schema {name}: at {where}: {error.message[:300]}")
