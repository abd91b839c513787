"""Fixtures for the contract's tests on the live network (``pytest -m contract tests/contract/live``).

The network is shared: other engineers' tests and benchmarks, the dispatcher (which sends
AssignVerifiers for every ModelSubmitted) and one verifier worker per verifier identity (which
votes on every interval assigned to it) act on the same ledger at the same time. What that means for each test, and how the tests stay
deterministic anyway, is explained in the test modules' docstrings; the tools are here:

* ``live``: one contract handle per identity; ``submit`` (commits, retries read conflicts, then
  waits until *both* peers have the block: a commit status comes from one peer, and the next
  proposal is endorsed by both), ``query``, and ``refuse``, which endorses or evaluates a
  proposal that must be refused and never sends it to the orderers, so a refused test call
  cannot change the ledger even if the contract wrongly accepted it. ``proposal(...,
  timestamp=)`` sets the client-chosen transaction time.
* ``runs``: real recorded training runs (``demo.digits.train_digits``), a fresh
  one (new seed) per call since an artifact is claimed once on the ledger, with their artifacts
  uploaded to MinIO, so the workers verify them for real.
* ``fake_payload``: a valid certificate whose artifacts do not exist in MinIO (the workers vote
  REJECT, "unusable submission", within seconds).
* ``events``: every chaincode event from the session's start.

Every model these tests create is named ``contract-test-…``.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from fabric_protos.common import common_pb2

from trainproof.chaincode.contract.router import QUERIES, TRANSACTIONS
from tests.contract.factories import model_payload
from tests.network.ledger import height
from trainproof.gateway import CommitError, Contract, EndorseError, EvaluateError, Proposal, messages

PREFIX = "contract-test-"
RETRY_CODES = ("MVCC_READ_CONFLICT", "PHANTOM_READ_CONFLICT")
FINAL = ("VERIFIED", "REJECTED", "INCONCLUSIVE")
UNKNOWN_MODEL = "00000000-0000-4000-8000-000000000000"


def unique_name(label: str) -> str:
    return f"{PREFIX}{label}-{uuid.uuid4().hex[:8]}"


def encode(args: Iterable[Any]) -> list[bytes]:
    out = []
    for arg in args:
        if isinstance(arg, bytes):
            out.append(arg)
        elif isinstance(arg, str):
            out.append(arg.encode("utf-8", "surrogatepass"))
        else:
            out.append(json.dumps(arg, sort_keys=True).encode())
    return out


def wait_until(probe: Callable[[], Any], timeout: float, what: str, every: float = 0.25) -> Any:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


@dataclass(frozen=True)
class Refusal:
    message: str
    status: int
    tx_id: str


class Live:
    """The contract as each identity of the profile sees it."""

    def __init__(self, profile, connect) -> None:
        self.profile, self._connect = profile, connect
        self._contracts: dict[str, Contract] = {}
        self._lock = threading.Lock()

    def contract(self, who: str) -> Contract:
        with self._lock:
            if who not in self._contracts:
                gateway = self._connect(who)
                self._contracts[who] = gateway.get_network(self.profile.channel).get_contract(self.profile.chaincode)
            return self._contracts[who]

    @property
    def gateway(self):
        return self.contract("org1-user1").gateway

    def fingerprint(self, who: str) -> str:
        """The contract's id of an identity: SHA-256 of its certificate's DER bytes."""
        cert = x509.load_pem_x509_certificate(self.profile.identity_files(who).cert.read_bytes())
        return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()

    def name_of(self, fingerprint: str) -> str | None:
        """The profile identity with that fingerprint (None: not one of this profile's)."""
        return next((n for n in self.profile.identities if self.fingerprint(n) == fingerprint), None)

    def mspid(self, who: str) -> str:
        return self.profile.identity_files(who).mspid

    def identities(self, role: str, mspid: str | None = None) -> list[str]:
        return sorted(n for n, f in self.profile.identities.items()
                      if f.role == role and (mspid is None or f.mspid == mspid))

    # --- calls -----------------------------------------------------------------------------

    def query(self, fn: str, *args: Any, who: str = "org1-user1") -> Any:
        return json.loads(self.contract(who).evaluate(fn, encode(args)))

    def proposal(self, who: str, fn: str, *args: Any, timestamp: float | None = None) -> Proposal:
        """A proposal from ``who``; ``timestamp`` replaces the client clock in its channel header
        (Fabric leaves the transaction time to the client, and the contract's deadlines use it)."""
        contract = self.contract(who)
        if timestamp is None:
            return contract.new_proposal(fn, encode(args))
        prop, tx_id = messages.proposal(self.profile.channel, self.profile.chaincode, encode([fn, *args]),
                                        contract.gateway.identity.serialize())
        header = common_pb2.Header.FromString(prop.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        nanos = round(timestamp * 1e9)
        channel_header.timestamp.seconds, channel_header.timestamp.nanos = divmod(nanos, 1_000_000_000)
        header.channel_header = channel_header.SerializeToString()
        prop.header = header.SerializeToString()
        return Proposal(contract, prop, tx_id, fn)

    def submit_tx(self, who: str, fn: str, *args: Any, attempts: int = 4,
                  timestamp: float | None = None) -> tuple[Any, str]:
        """Endorse, order, wait for the commit; resubmit on a read conflict. Returns (result, tx id)."""
        for attempt in range(1, attempts + 1):
            submitted = self.proposal(who, fn, *args, timestamp=timestamp).endorse().submit()
            status = submitted.get_status()
            if status.successful:
                self.sync(status.block_number + 1)
                return json.loads(submitted.result), submitted.tx_id
            if status.code not in RETRY_CODES or attempt == attempts:
                raise CommitError(f"{fn} {status.tx_id} committed as invalid: {status.code}", status.tx_id,
                                  status.code, status.block_number)
            time.sleep(0.3 * attempt)
        raise AssertionError("unreachable")

    def submit(self, who: str, fn: str, *args: Any, attempts: int = 4) -> Any:
        return self.submit_tx(who, fn, *args, attempts=attempts)[0]

    def set_config(self, changes: dict[str, Any]) -> dict[str, Any]:
        """The consortium changes settings: Org1's admin proposes, Org2's approves, which applies it.
        Returns the APPLIED proposal."""
        proposal = self.submit("org1-admin", "ProposeConfig", changes)
        applied = self.submit("org2-admin", "ApproveConfig", proposal["proposal_id"])
        assert applied["status"] == "APPLIED", applied
        return applied

    def refuse(self, who: str, fn: str, *args: Any, status: int, match: str = "",
               timestamp: float | None = None) -> Refusal:
        """The proposal must be refused by the contract on every peer, with ``status`` and a
        message "<fn> refused: <rule>: …" containing ``match``. It is endorsed (or, for a query,
        evaluated) but never sent to the orderers, so the ledger cannot change through it."""
        proposal = self.proposal(who, fn, *args, timestamp=timestamp)
        try:
            if fn in QUERIES:
                proposal.evaluate()
            else:
                proposal.endorse()
        except (EndorseError, EvaluateError) as exc:
            answers = [d for d in exc.details if d.status is not None]
            assert answers, f"{fn}: no peer answered: {exc}"
            if fn not in QUERIES:  # every endorsing peer ran it and refused it
                assert len(answers) == len(self.profile.peers), exc
            prefix = f"{fn} refused: " if fn in TRANSACTIONS else f"{fn[:64]!r} refused: "
            for answer in answers:
                assert answer.status == status, (answer.status, answer.message)
                assert answer.message.startswith(prefix), answer.message
                assert match in answer.message, answer.message
            return Refusal(answers[0].message, answers[0].status, proposal.tx_id)
        raise AssertionError(f"{fn} was accepted by the contract (the proposal was not sent to the orderers)")

    # --- models ------------------------------------------------------------------------------

    def model(self, model_id: str) -> dict[str, Any] | None:
        """GetModel without the certificate; None if the ledger has no such model."""
        try:
            state = self.query("GetModel", model_id)
        except EvaluateError as exc:
            if any(d.status == 404 for d in exc.details):
                return None
            raise
        state.pop("certificate")
        return state

    def submit_model(self, payload: dict[str, Any], who: str = "org1-user1") -> dict[str, Any]:
        return self.submit(who, "SubmitModel", payload)

    def assignment(self, model_id: str) -> dict[str, Any] | None:
        try:
            return self.query("GetAssignment", model_id)
        except EvaluateError as exc:
            if any(d.status == 404 for d in exc.details):
                return None
            raise

    def seed_round(self, model_id: str) -> None:
        """Commit, then reveal, both orgs' seeds as the dispatcher would (same derived secrets, so a
        dispatcher that takes over agrees); for tests that assign while the dispatcher is stopped."""
        from trainproof.verifier.dispatcher import org_seed_key, seed_commitment, seed_secret

        admins = ("org1-admin", "org2-admin")
        secrets = {a: seed_secret(org_seed_key(self.profile.identity_files(a).key), model_id) for a in admins}
        for step, arg in (("CommitSeed", seed_commitment), ("RevealSeed", lambda s: s)):
            for admin in admins:
                try:
                    self.submit(admin, step, model_id, arg(secrets[admin]))
                except EndorseError as exc:  # the dispatcher did this step already
                    assert "once per org" in exc.chaincode_message, exc.chaincode_message

    def assign(self, model_id: str, assigner: str) -> tuple[dict[str, Any], bool]:
        """AssignVerifiers from ``assigner`` unless the dispatcher got there first (it assigns
        every submitted model within a second). Returns (GetAssignment, whether ours won)."""
        ours = False
        try:
            self.submit(assigner, "AssignVerifiers", model_id, attempts=1)
            ours = True
        except EndorseError as exc:  # already assigned by the dispatcher, or its seed round still runs
            assert "once per model" in exc.chaincode_message or "seed:" in exc.chaincode_message, exc.chaincode_message
        except CommitError as exc:  # the dispatcher's assignment committed first
            assert exc.code in RETRY_CODES, exc
        assignment = wait_until(lambda: self.assignment(model_id), 30, f"an assignment of {model_id}")
        self.sync()
        return assignment, ours

    def wait_final(self, model_id: str, timeout: float = 120) -> dict[str, Any]:
        return wait_until(lambda: (s := self.model(model_id)) and s["status"] in FINAL and s, timeout,
                          f"a verdict on {model_id}", every=0.5)

    # --- ledger ------------------------------------------------------------------------------

    def height(self) -> int:
        return height(self.gateway, self.profile.channel)

    def peer_heights(self) -> list[int]:
        """The channel height at each org's peer (a query is answered by the caller's own org first)."""
        return [height(self.contract(f"{org}-user1").gateway, self.profile.channel) for org in ("org1", "org2")]

    def sync(self, at_least: int | None = None, timeout: float = 15) -> None:
        """Wait until every peer has committed ``at_least`` blocks (default: as many as the most
        advanced peer now). A commit status comes from one peer; the next proposal is endorsed by
        both, and one that has not committed the block yet would answer from older state."""
        target = max(self.peer_heights()) if at_least is None else at_least
        wait_until(lambda: min(self.peer_heights()) >= target, timeout, f"every peer at height {target}", every=0.05)

    def tx_ids(self, start: int, end: int) -> set[str]:
        """Ids of every transaction in blocks [start, end)."""
        qscc = self.gateway.get_network(self.profile.channel).get_contract("qscc")
        found = set()
        for number in range(start, end):
            block = common_pb2.Block.FromString(qscc.evaluate("GetBlockByNumber", [self.profile.channel, str(number)]))
            for envelope in block.data.data:
                payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(envelope).payload)
                found.add(common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id)
        return found

    def chaincode_pids(self) -> dict[str, int]:
        """Each org's chaincode server process (``chaincode-<org>.pid``)."""
        return {path.stem: int(path.read_text().strip()) for path in (self.profile.home / "pids").glob("chaincode-*.pid")}

    def adversarial_workers(self) -> set[str]:
        """Verifier identities whose running worker was started as a malicious adversary (the
        robustness benchmark, bench/robustness/, does that for a while, then restores them)."""
        from bench.robustness.adversary import ADVERSARY_ENV

        found = set()
        for who in self.identities("verifier"):
            try:
                pid = int((self.profile.home / "pids" / f"worker-{who}.pid").read_text().strip())
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if any(e.startswith(f"{ADVERSARY_ENV}=".encode()) and e.split(b"=", 1)[1].strip() for e in environ):
                found.add(who)
        return found


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def live(profile, connect) -> Live:
    lv = Live(profile, connect)
    try:
        assert lv.contract("org1-user1").evaluate("Ping") == b"pong"
    except Exception as exc:  # noqa: BLE001 - any failure means the same thing here
        pytest.fail(f"the live network does not answer ({exc}); start it with `make network-up`")
    return lv


# --- events ------------------------------------------------------------------------------------

@dataclass
class Event:
    name: str
    payload: dict[str, Any]
    tx_id: str
    block: int


class EventLog:
    """Every chaincode event committed from ``start_block`` on, collected by a background thread."""

    def __init__(self, network, chaincode: str, start_block: int) -> None:
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._stream = network.chaincode_events(chaincode, start_block=start_block)
        self._thread = threading.Thread(target=self._follow, daemon=True, name="contract-test-events")
        self._thread.start()

    def _follow(self) -> None:
        try:
            for event in self._stream:
                try:
                    payload = json.loads(event.payload)
                except ValueError:
                    payload = {}
                with self._cond:
                    self._events.append(Event(event.event_name, payload, event.transaction_id, event.block_number))
                    self._cond.notify_all()
        except Exception:  # noqa: BLE001 - the stream ends with an error when closed
            pass

    def wait(self, predicate: Callable[[Event], bool], timeout: float = 30, what: str = "an event") -> Event:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self._events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no chaincode event matched ({what}) within {timeout:g}s")
                self._cond.wait(left)

    def for_tx(self, tx_id: str, timeout: float = 30) -> Event:
        return self.wait(lambda e: e.tx_id == tx_id, timeout, f"the event of transaction {tx_id}")

    def close(self) -> None:
        self._stream.close()


@pytest.fixture(scope="session")
def events(live, profile, connect):
    network = connect("org2-user1").get_network(profile.channel)
    log = EventLog(network, profile.chaincode, live.height())
    yield log
    log.close()


# --- payloads and recorded runs ------------------------------------------------------------

def fake_payload(label: str = "fake", **kw: Any) -> dict[str, Any]:
    """A valid certificate (``tests.contract.factories.model_payload``) named ``contract-test-…``,
    whose artifact URIs have the storage layer's shape but name objects MinIO does not hold."""
    payload = model_payload(name=unique_name(label), **kw)
    for snap in payload["snapshots"]:
        snap["uri"] = f"s3://snapshots/sha256/{snap['sha256']}"
    payload["dataset"]["uri"] = f"s3://datasets/sha256/{payload['dataset']['sha256']}"
    return payload


@dataclass(frozen=True)
class RecordedRun:
    """A finished recorded run whose dataset and snapshots are in MinIO."""

    directory: Path
    run: dict[str, Any]
    uris: dict[str, str] = field(default_factory=dict)

    def certificate(self, label: str, *, parent_id: str | None = None) -> dict[str, Any]:
        from trainproof.ml import certificate

        cert = certificate.for_submission(self.run)
        cert["model_id"] = str(uuid.uuid4())
        cert["name"] = unique_name(label)
        cert["parent_id"] = parent_id
        cert["dataset"]["uri"] = self.uris["dataset"]
        for snap in cert["snapshots"]:
            snap["uri"] = self.uris[f"snapshot {snap['index']}"]
        return cert


# Replaying a step costs a worker ~3 ms of CPU (idle machine, measured) and up to ~80 ms of wall
# time when many replays share the two cores; training it here costs ~1.5 ms. An interval of
# SLOW_STEPS steps therefore keeps its three assigned workers (sharing two cores) from voting for
# about 6 s at the very least, and the tests that vote themselves need about 3 s of that (the
# other interval's score check, two votes, then their own). Each
# such model costs the workers three replays (CPU that other engineers share), so keep it short.
SLOW_STEPS = 1200
RUN_SPECS: dict[str, dict[str, Any]] = {
    "honest": {"intervals": 3, "steps_per_interval": 10, "seed": 7},
    "poisoned": {"intervals": 3, "steps_per_interval": 10, "seed": 8, "poison_intervals": (0, 1, 2),
                 "poison_fraction": 0.5},
    "slow": {"intervals": 2, "steps_per_interval": SLOW_STEPS, "seed": 9},
}


def _complete(directory: Path) -> dict[str, Any] | None:
    """run.json of a finished run whose files are all there with their recorded sizes."""
    try:
        run = json.loads((directory / "run.json").read_text())
        entries = [run["dataset"], *run["snapshots"]]
        if all((directory / e["file"]).stat().st_size == e["size"] for e in entries):
            return run
    except (OSError, ValueError, KeyError):
        pass
    return None


class Runs:
    """``runs(kind)`` trains a fresh run of that kind on every call, with a seed never used before.

    Why fresh: an artifact is claimed once on the ledger (issue 15), so the same snapshots cannot
    back two models, in one session or across sessions on the same network. Training is cheap
    (well under a second for 30 steps, a few seconds for the slow run); the replays are what
    cost, and they are the same either way."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store = None

    def __call__(self, kind: str, parent: RecordedRun | None = None) -> RecordedRun:
        """``parent``: fine-tune from that run's final weights (a real child)."""
        return self._upload(self._train(kind, parent))

    def _train(self, kind: str, parent: RecordedRun | None = None) -> Path:
        from demo.digits import train_digits

        spec = {**RUN_SPECS[kind], "seed": secrets.randbelow(2 ** 31 - 2) + 1}
        if parent is not None:
            spec["parent_snapshot"] = parent.directory / parent.run["snapshots"][-1]["file"]
        directory = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root)) / "run"
        train_digits(directory, name=f"{PREFIX}{kind}", **spec)
        return directory

    def _upload(self, directory: Path) -> RecordedRun:
        from trainproof.storage import DATASETS, SNAPSHOTS, ArtifactStore

        if self._store is None:
            self._store = ArtifactStore.from_state(role="submitter", org="org1")
        run = _complete(directory)
        assert run is not None, directory
        uris = {"dataset": self._store.put_file(directory / run["dataset"]["file"], DATASETS).uri}
        for snap in run["snapshots"]:
            artifact = self._store.put_file(directory / snap["file"], SNAPSHOTS)
            assert artifact.sha256 == snap["sha256"], snap
            uris[f"snapshot {snap['index']}"] = artifact.uri
        return RecordedRun(directory, run, uris)


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("contract-live-runs"))
