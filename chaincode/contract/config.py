"""Contract settings: GetConfig / SetConfig, with defaults when nothing was set.

AssignVerifiers copies the settings in force into the assignment, so changing them later never
changes the rules of a model already being verified.
"""
from __future__ import annotations

import math
import re
from typing import Any, Callable

from chaincode.contract import keys, store
from chaincode.contract.args import json_object, texts
from chaincode.contract.identity import caller, require_admin
from chaincode.shim.stub import ChaincodeError, Stub

DEFAULTS: dict[str, Any] = {
    "k": 3.0,  # outlier threshold: median + k·MAD of the detrended log residuals
    "shift_k": 4.0,  # input-shift threshold: robust sds of log input shift above the run's median
    "audit_fraction": 0.2,  # random audit sample, as a fraction of all intervals (at least one)
    "sub_quorum_size": 3,  # verifiers per selected interval (odd)
    "deadline_seconds": 86400,  # time, in transaction time, to vote before ExpireAssignment may act
    "max_reassignments": 2,  # re-assignments of an interval before it is INCONCLUSIVE
    "clock_skew_seconds": 300,  # how far a deadline-setting tx's time may be from each endorsing peer's clock
    # Consortium limits on the work one submission may cost a verifier (limits.py; issue 15, finding 11).
    "max_steps_per_interval": 100_000,  # optimizer steps one replay task runs
    "max_parameters": 100_000_000,  # parameters of the architecture (counted by verifiers without allocating)
    "max_dataset_bytes": 1 << 30,  # bytes of the dataset each verifier downloads
    "max_snapshot_bytes": 1 << 30,  # bytes of each snapshot
    # Where certificate artifacts may live: the network's own storage (limits.check_uris).
    "storage_uri_prefixes": ["s3://datasets/sha256/", "s3://snapshots/sha256/"],
}


_URI_PREFIX = re.compile(r"[a-z][a-z0-9+.-]*://[!-~]{1,200}/")


def _number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _integer(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# Each setting: (check, rule as shown in refusals, normalisation).
RULES: dict[str, tuple[Callable[[Any], bool], str, Callable[[Any], Any]]] = {
    "k": (lambda v: _number(v) and 0 < v <= 100, "a number in (0, 100]", float),
    "shift_k": (lambda v: _number(v) and 0 < v <= 100, "a number in (0, 100]", float),
    "audit_fraction": (lambda v: _number(v) and 0 < v <= 1, "a number in (0, 1]", float),
    "sub_quorum_size": (lambda v: _integer(v) and 1 <= v <= 51 and v % 2 == 1, "an odd integer in [1, 51]", int),
    "deadline_seconds": (lambda v: _integer(v) and 1 <= v <= 31_536_000, "an integer in [1, 31536000]", int),
    "max_reassignments": (lambda v: _integer(v) and 0 <= v <= 10, "an integer in [0, 10]", int),
    "clock_skew_seconds": (lambda v: _integer(v) and 1 <= v <= 86400, "an integer in [1, 86400]", int),
    "max_steps_per_interval": (lambda v: _integer(v) and 1 <= v <= 10_000_000, "an integer in [1, 10000000]", int),
    "max_parameters": (lambda v: _integer(v) and 1 <= v <= 2_000_000_000, "an integer in [1, 2000000000]", int),
    "max_dataset_bytes": (lambda v: _integer(v) and 1 <= v <= 1 << 40, "an integer in [1, 2^40]", int),
    "max_snapshot_bytes": (lambda v: _integer(v) and 1 <= v <= 1 << 40, "an integer in [1, 2^40]", int),
    "storage_uri_prefixes": (lambda v: isinstance(v, list) and 1 <= len(v) <= 16 and all(
        isinstance(p, str) and _URI_PREFIX.fullmatch(p) for p in v),
        "a list of 1-16 URI prefixes such as \"s3://snapshots/sha256/\" (scheme://, up to 200 characters, ending in /)",
        list),
}


def effective(stub: Stub) -> dict[str, Any]:
    record = store.get(stub, keys.config())
    return {**DEFAULTS, **(record["values"] if record else {})}


def _view(record: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "values": {**DEFAULTS, **(record["values"] if record else {})},
        "defaults": dict(DEFAULTS),
        "updated": None if record is None else {k: record[k] for k in ("by", "tx_id", "timestamp")},
    }


def get_config(stub: Stub) -> dict[str, Any]:
    texts(stub.args, "GetConfig()", 0, 0)
    return _view(store.get(stub, keys.config()))


def set_config(stub: Stub) -> dict[str, Any]:
    """Admin only: a JSON object with any subset of the settings."""
    (text,) = texts(stub.args, 'SetConfig(json: {"k"?, "audit_fraction"?, "sub_quorum_size"?, ...})', 1, 1)
    who = caller(stub)
    require_admin(who)
    changes = json_object(text, "settings")
    if not changes:
        raise ChaincodeError(f"settings: no setting given; known settings: {', '.join(sorted(RULES))}")
    for name in sorted(changes):
        if name not in RULES:
            raise ChaincodeError(f"settings: unknown setting {name[:64]!r}; known settings: {', '.join(sorted(RULES))}")
        check, rule, _ = RULES[name]
        if not check(changes[name]):
            raise ChaincodeError(f"settings: {name} must be {rule}, got {str(changes[name])[:64]}")
    values = effective(stub)
    values.update({name: RULES[name][2](value) for name, value in changes.items()})
    record = {"values": values, "by": who.ref(), "tx_id": stub.tx_id, "timestamp": stub.tx_timestamp}
    store.put(stub, keys.config(), record)
    return _view(record)
