"""Expected failures from the layers below, turned into one line, a hint and an exit code.

Only errors a user can cause or fix are translated (network down, unknown model, wrong role,
bad input, damaged files); anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import re

from trainproof.storage import AccessDenied, IntegrityError, ObjectNotFound, StorageError, StorageUnavailable
from trainproof.cli.output import CliError, Exit
from trainproof.confidential.artifacts import ConfidentialError
from trainproof.confidential.keywrap import KeyWrapError
from trainproof.contract import ADMIN_TRANSACTIONS, CLIENT_TRANSACTIONS, Conflict, NotFound, Refused, Transient, VerdictTimeout, classify
from trainproof.gateway import CommitError, CommitStatusError, GatewayError, SubmitError
from trainproof.ml.snapshot import SnapshotError
from trainproof.profile import ProfileError
from trainproof.submission import SubmissionError

NETWORK_HINT = "is the network running? check with `trainproof network status`; start it with `make network-up`"
_TRANSPORT = re.compile(r"\b(UNAVAILABLE|DEADLINE_EXCEEDED|SERVICE_UNAVAILABLE)\b")
_CHAINCODE_DOWN = re.compile(r"could not launch chaincode|connection refused|timeout expired", re.IGNORECASE)

EXPECTED = (GatewayError, ProfileError, StorageError, SnapshotError, SubmissionError, VerdictTimeout, ConfidentialError,
            KeyWrapError)


def translate(exc: BaseException, identity: str = "", role: str = "") -> CliError:
    """The CliError for an expected exception (one of ``EXPECTED``)."""
    if isinstance(exc, GatewayError):
        return _gateway(exc, identity, role)
    if isinstance(exc, ProfileError):
        if "unknown identity" in str(exc):
            return CliError(str(exc), "choose one with --identity or $TRAINPROOF_IDENTITY", Exit.USAGE)
        return CliError(str(exc), "or point $TRAINPROOF_HOME at the network's state directory", Exit.UNAVAILABLE)
    if isinstance(exc, StorageUnavailable):
        return CliError(str(exc), "MinIO runs with the network: `make network-up`", Exit.UNAVAILABLE)
    if isinstance(exc, AccessDenied):
        return CliError(str(exc), "storage keys are per org and role; see storage/README.md", Exit.DENIED)
    if isinstance(exc, IntegrityError):
        return CliError(str(exc), "nothing was used; the artifact must match the ledger's SHA-256", Exit.INTEGRITY)
    if isinstance(exc, ObjectNotFound):
        return CliError(str(exc), "", Exit.NOT_FOUND)
    if isinstance(exc, StorageError):
        if "credentials" in str(exc):
            return CliError(str(exc), "or point $TRAINPROOF_HOME at the network's state directory", Exit.UNAVAILABLE)
        return CliError(str(exc), "", Exit.FAILED)
    if isinstance(exc, SnapshotError):
        return CliError(str(exc), "the file must be a safetensors file of the model's weights", Exit.INTEGRITY)
    if isinstance(exc, SubmissionError):
        return CliError(str(exc), "RUN_DIR must be a directory written by trainproof's Recorder "
                                  "(run.json, snapshots/, dataset/)", Exit.USAGE)
    if isinstance(exc, ConfidentialError):
        return CliError(str(exc), "a confidential model's keys are its submitter's: ask it for `trainproof grant`",
                        Exit.DENIED)
    if isinstance(exc, KeyWrapError):
        return CliError(str(exc), "the key delivered to this identity does not open with its own key file; ask the "
                                  "submitter to deliver again (`trainproof keys deliver`)", Exit.INTEGRITY)
    if isinstance(exc, VerdictTimeout):
        return CliError(str(exc), "verifier workers vote asynchronously: are they running (`trainproof network "
                                  "status`)? wait longer with --timeout", Exit.TIMEOUT)
    raise TypeError(f"not an expected error: {exc!r}")


def _chaincode_unreachable() -> CliError:
    return CliError("the contract does not answer: the peers cannot reach the chaincode server", NETWORK_HINT,
                    Exit.UNAVAILABLE)


def _gateway(exc: GatewayError, identity: str, role: str) -> CliError:
    error = classify(exc)
    exc = error.gateway_error  # the wording below names what the gateway saw
    if isinstance(error, NotFound):
        noun = "verifier list" if "verifier" in error.reason else "models"
        return CliError(error.reason, f"see what the ledger has with `trainproof {noun}`", Exit.NOT_FOUND)
    if isinstance(error, Conflict) and error.status is not None:
        return CliError(error.reason, "the ledger's current state forbids this; nothing was changed", Exit.REFUSED)
    if isinstance(error, Refused):
        if error.status in (401, 403):
            if error.transaction in ADMIN_TRANSACTIONS:
                hint = f"{identity or 'this identity'} is a {role or 'non-admin'}; this needs an org admin, " \
                       "e.g. --identity org1-admin"
            elif error.transaction in CLIENT_TRANSACTIONS:
                hint = "submit as a client identity, e.g. --identity org1-user1"
            else:
                hint = "act as another identity with --identity"
            return CliError(error.reason, hint, Exit.DENIED)
        return CliError(error.reason, "the contract refused the input (rules: chaincode/contract/README.md)",
                        Exit.REFUSED)
    if isinstance(error, Transient) and error.status is not None:  # the peer answered 5xx
        if _CHAINCODE_DOWN.search(error.reason):  # the peer could not reach the chaincode server
            return _chaincode_unreachable()
        return CliError(error.reason, "the peer could not run the contract; see its log in $TRAINPROOF_HOME/logs",
                        Exit.FAILED)
    if isinstance(exc, CommitError):  # a read conflict or another invalidation: nothing was written
        return CliError(str(exc), "nothing was changed; run the command again", Exit.FAILED)
    if isinstance(exc, CommitStatusError):
        return CliError(exc.message, "the transaction may still commit: look before retrying "
                                     "(`trainproof models`, `trainproof status`)", Exit.UNAVAILABLE)
    # The peer's gateway reports its own failure to reach the chaincode server without a status.
    if any("could not launch chaincode" in d.message for d in exc.details):
        return _chaincode_unreachable()
    codes = sorted({m.group(1) for d in exc.details if (m := _TRANSPORT.search(d.message))})
    if isinstance(exc, SubmitError) or codes:
        nodes = ", ".join(d.address for d in exc.details) or "no node"
        return CliError(f"the network does not answer: {nodes}: {', '.join(codes) or exc.message}", NETWORK_HINT,
                        Exit.UNAVAILABLE)
    return CliError(str(exc), NETWORK_HINT, Exit.FAILED)
