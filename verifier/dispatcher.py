"""Follows the contract's events and turns them into work: ``python -m trainproof.verifier.dispatcher``.

ModelSubmitted    → the seed round: CommitSeed for each org this dispatcher acts for, with
SeedCommitted       SHA-256 of a secret derived as HMAC(org key, model id) (the org key comes
SeedRevealed        from the assigner's private key file, so a restarted dispatcher re-derives
                    it and nothing is stored); once every member org committed, RevealSeed;
                    once the draw is ready, AssignVerifiers, sent by an assigner identity of
                    another org than the submitter's (the contract refuses the submitter's own
                    org while others exist). The draw is fixed by the reveals (ASSIGNMENT.md).
IntervalsAssigned → one task per (verifier, interval) on that verifier's queue.
IntervalDecided / ModelVerdict from an expiry may re-staff intervals → tasks for the new members.
IntervalEscalated → tasks for the seats a disagreement filled (majority-first replication).
OutputAttested    → the same seed round for the attestation, then AuditAttestation (the draw);
AttestationAudit    AUDITING → one check_attestation task on the drawn verifier's queue; past
                    its deadline the attestation is re-staffed (AuditAttestation again).

The position in the event stream is checkpointed after each event, so a restart neither misses
nor repeats events; a crash between enqueueing and checkpointing re-enqueues, which is harmless
because tasks check the ledger before voting.

Events are a fast path, never the only one: an event can be missed for good (AssignVerifiers
still failing after its retries, a checkpoint that moved past an event that was not acted on,
a dispatcher that was restarted and so forgot the deadlines it had seen). So on start and every
``--reconcile-every`` seconds the dispatcher reads the ledger itself (``reconcile``): every model
still SUBMITTED is taken through its seed round (committing, revealing, or assigning once a
withheld reveal is past its deadline, whatever step it is stuck at) and assigned, and every ASSIGNED model's earliest open deadline is watched, so an
overdue assignment is expired (every ``--expire-every`` seconds) whatever happened before.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from trainproof.contract import ContractError, NotFound, TrainproofContract, Transient
from trainproof.gateway import FileCheckpointer
from trainproof.profile import Profile
from trainproof.verifier.settings import queue_for

# (model_id, interval, verifier fingerprint, task id): puts one verification task on the verifier's queue.
Enqueue = Callable[[str, int, str, str], None]
# (attestation_id, verifier fingerprint, task id): puts one attestation check on the verifier's queue.
EnqueueCheck = Callable[[str, str, str], None]

log = logging.getLogger("trainproof.verifier.dispatcher")


SEED_KEY_DOMAIN = b"trainproof/seed-key/v1\x00"
SEED_DOMAIN = b"trainproof/seed/v1\x00"


def org_seed_key(key_file: Path) -> bytes:
    """The org-local key that seed secrets derive from: a hash of the assigner's private key file,
    which only the org holds."""
    return hashlib.sha256(SEED_KEY_DOMAIN + Path(key_file).read_bytes()).digest()


def seed_secret(org_key: bytes, model_id: str) -> str:
    """This org's secret for a model's seed round (64 hex digits): HMAC(org key, model id)."""
    return hmac.new(org_key, SEED_DOMAIN + model_id.encode(), hashlib.sha256).hexdigest()


def seed_commitment(secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(secret)).hexdigest()


def celery_enqueue(model_id: str, interval: int, verifier: str, task_id: str) -> None:
    """The Celery task on the verifier's own queue (imported here: tests of ``handle`` need no broker)."""
    from trainproof.verifier.tasks import verify_interval

    verify_interval.apply_async(kwargs={"model_id": model_id, "interval": interval, "verifier": verifier},
                                queue=queue_for(verifier), task_id=task_id)


def celery_enqueue_check(attestation_id: str, verifier: str, task_id: str) -> None:
    from trainproof.verifier.tasks import check_attestation

    check_attestation.apply_async(kwargs={"attestation_id": attestation_id, "verifier": verifier},
                                  queue=queue_for(verifier), task_id=task_id)


class Dispatcher:
    """Event handling over injected ledgers (one per assigner MSP) and injected enqueue functions."""

    def __init__(self, ledgers: dict[str, TrainproofContract], enqueue: Enqueue = celery_enqueue,
                 seed_keys: dict[str, bytes] | None = None, enqueue_check: EnqueueCheck = celery_enqueue_check) -> None:
        self._ledgers = ledgers
        # Per MSP, the org-local key seed secrets derive from (a random one where none is given:
        # then a restarted dispatcher cannot reveal what it committed, so connect() always passes them).
        self._seed_keys = {msp: (seed_keys or {}).get(msp) or os.urandom(32) for msp in ledgers}
        self._enqueue_task, self._enqueue_check = enqueue, enqueue_check
        self._assigned: dict[str, tuple[float, str]] = {}  # model_id -> (latest deadline, submitter MSP)
        self._audits: dict[str, tuple[float, str]] = {}  # attestation_id -> (check deadline, attester MSP)
        # Event handling and reconciliation run in two threads; one at a time, so that they
        # never race each other's AssignVerifiers/ExpireAssignment into read conflicts.
        self._lock = threading.RLock()
        self.expire_every, self.reconcile_every = 30.0, 60.0

    @classmethod
    def connect(cls, profile: Profile, assigners: list[str]) -> Dispatcher:
        """One gateway per assigner identity, keyed by its MSP."""
        ledgers, seed_keys = {}, {}
        for name in assigners:
            gateway = profile.connect(name)
            files = profile.identity_files(name)
            ledgers[files.mspid] = TrainproofContract(gateway.get_network(profile.channel).get_contract(profile.chaincode))
            seed_keys[files.mspid] = org_seed_key(files.key)
        return cls(ledgers, seed_keys=seed_keys)

    def run(self, profile: Profile, listener_identity: str, expire_every: float, stop: threading.Event,
            reconcile_every: float = 60.0) -> None:
        """Reconcile with the ledger, then follow the chaincode events from the checkpoint until
        ``stop`` is set (reconciling again every ``reconcile_every`` seconds)."""
        self.profile, self.expire_every, self.reconcile_every = profile, expire_every, reconcile_every
        self.listener = profile.connect(listener_identity).get_network(profile.channel)
        self.checkpointer = FileCheckpointer(profile.home / "dispatcher" / "checkpoint.json")
        start = None if self.checkpointer.block_number is not None else 0
        stream = self.listener.chaincode_events(self.profile.chaincode, start_block=start, checkpointer=self.checkpointer)
        threading.Thread(target=self._expire_loop, args=(stop,), daemon=True).start()
        stop_watch = threading.Thread(target=lambda: (stop.wait(), stream.close()), daemon=True)
        stop_watch.start()
        log.info("following events from block %s", self.checkpointer.block_number or 0)
        for event in stream:
            self.handle(event.event_name, json.loads(event.payload))
            self.checkpointer.checkpoint_chaincode_event(event)

    def handle(self, name: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._handle(name, payload)

    def _handle(self, name: str, payload: dict[str, Any]) -> None:
        if payload.get("attestation_id"):
            self._attestation_event(name, payload)
            return
        model_id = payload.get("model_id", "")
        if name in ("ModelSubmitted", "SeedCommitted", "SeedRevealed"):
            self._assign(model_id, payload["submitter"]["mspid"])
        submitter_msp = (payload.get("submitter") or {}).get("mspid", "")
        # Score checks first: they take seconds, and a verifier seated on a check and a replay
        # should not leave the check, which decides its interval at once, behind a long replay.
        for assignment in sorted(payload.get("assignments", []) or [], key=lambda a: a.get("kind") == "replay"):
            self._enqueue(model_id, assignment, submitter_msp)
        for escalation in payload.get("escalations", []) or []:  # only the seats just filled replay
            self._enqueue(model_id, {**escalation, "verifiers": escalation["added"], "reasons": ["escalated"]},
                          submitter_msp)
        if name == "ModelVerdict":
            self._assigned.pop(model_id, None)
            log.info("model %s: %s (%s)", model_id, payload.get("status"), payload.get("reason", ""))

    def _attestation_event(self, name: str, payload: dict[str, Any]) -> None:
        aid, attester_msp = payload["attestation_id"], payload["submitter"]["mspid"]
        if name in ("OutputAttested", "SeedCommitted", "SeedRevealed"):
            self._draw(aid, attester_msp)
        elif name == "AttestationAudit":
            self._watch_audit(aid, payload["audit"], attester_msp)
        elif name == "AttestationChecked":
            self._audits.pop(aid, None)
            log.info("attestation %s: %s", aid, payload["audit"]["state"])

    def _watch_audit(self, aid: str, audit: dict[str, Any], attester_msp: str) -> None:
        """An AUDITING attestation: its check on the drawn verifier's queue, its deadline watched."""
        if audit["state"] != "AUDITING":
            self._audits.pop(aid, None)
            log.info("attestation %s: %s", aid, audit["state"])
            return
        self._audits[aid] = (float(audit["deadline"]), attester_msp)
        self._enqueue_check(aid, audit["verifier"], f"attest:{aid}:{audit['verifier'][:16]}:{audit['round']}")
        log.info("attestation %s: audited by %s (round %d)", aid, audit["verifier"][:16], audit["round"])

    def _draw(self, aid: str, attester_msp: str, attempts: int = 5) -> None:
        """The attestation's seed round as far as this dispatcher can take it, then its audit draw."""
        ledger = self._independent(attester_msp)
        for attempt in range(attempts):
            try:
                self._seed_step(aid)
                if ledger is not None:
                    ledger.audit_attestation(aid)
                return
            except ContractError as exc:
                if exc.rule in ("seed", "once", "state"):  # waiting for other orgs, or already drawn
                    return
                log.warning("audit draw for attestation %s failed (%s); attempt %d", aid, exc.reason, attempt + 1)
                if attempt + 1 < attempts:
                    time.sleep(1 + attempt)

    def _attestations(self, audit: str) -> Iterator[dict[str, Any]]:
        reader = next(iter(self._ledgers.values()))
        bookmark = ""
        while True:
            page = reader.list_attestations(audit=audit, page_size=100, bookmark=bookmark or None)
            yield from page["attestations"]
            bookmark = page.get("bookmark") or ""
            if not bookmark:
                return

    def _independent(self, submitter_msp: str) -> TrainproofContract | None:
        """A ledger client of another org than the submitter's: the contract requires one."""
        return next((lg for msp, lg in self._ledgers.items() if msp != submitter_msp), None)

    def _models(self, status: str) -> Iterator[dict[str, Any]]:
        """Every model in ``status``, page by page (ListModels)."""
        reader = next(iter(self._ledgers.values()))
        bookmark = ""
        while True:
            page = reader.list_models({"status": status, "page_size": 100, **({"bookmark": bookmark} if bookmark else {})})
            yield from page["models"]
            bookmark = page.get("bookmark") or ""
            if not bookmark:
                return

    def reconcile(self) -> None:
        """Act on what the ledger says, not on remembered events: assign every model still
        SUBMITTED, and watch the earliest open deadline of every ASSIGNED model (the expiry pass
        expires it once past). A ledger that does not answer ends this pass; the next one retries."""
        reader = next(iter(self._ledgers.values()))
        try:
            with self._lock:
                for state in list(self._models("SUBMITTED")):
                    log.info("reconcile: model %s is SUBMITTED without an assignment", state["model_id"])
                    self._assign(state["model_id"], state["submitter"]["mspid"], attempts=1)
                for state in list(self._models("ASSIGNED")):
                    model_id = state["model_id"]
                    record = reader.get_assignment(model_id)
                    open_deadlines = [float(i["deadline"]) for i in record.get("intervals", []) if not i.get("decision")]
                    if open_deadlines:
                        self._assigned[model_id] = (min(open_deadlines), state["submitter"]["mspid"])
                for row in list(self._attestations("AWAITING_DRAW")):
                    self._draw(row["attestation_id"], row["attester"]["mspid"], attempts=1)
                for row in list(self._attestations("AUDITING")):
                    self._audits[row["attestation_id"]] = (float(row["audit"]["deadline"]), row["attester"]["mspid"])
        except ContractError as exc:
            log.warning("reconcile with the ledger failed (%s); next pass in %.0fs", exc.reason,
                        self.reconcile_every)

    def _seed_round(self, model_id: str) -> dict[str, Any] | None:
        try:
            return next(iter(self._ledgers.values())).get_seed_round(model_id)
        except NotFound:
            return None

    def _seed_step(self, model_id: str) -> None:
        """Commit for each of our orgs that has not committed; once the round is closed, reveal
        for each that has not revealed. Refusals are logged, not fatal: another identity of the
        same org may have committed (then this dispatcher's reveal cannot match, and the draw
        goes on without it after the reveal deadline); a Transient error is raised for a retry."""
        rnd = self._seed_round(model_id)
        for msp, ledger in self._ledgers.items():
            if rnd is not None and (msp in rnd["commitments"] or msp not in rnd["members"]):
                continue
            secret = seed_secret(self._seed_keys[msp], model_id)
            try:
                ledger.commit_seed(model_id, seed_commitment(secret))
            except Transient:
                raise
            except ContractError as exc:
                log.info("CommitSeed %s for %s: %s", model_id, msp, exc.reason)
        rnd = self._seed_round(model_id)
        if rnd is None or rnd["closed_at"] is None:
            return
        for msp, ledger in self._ledgers.items():
            if msp not in rnd["commitments"] or msp in rnd["reveals"]:
                continue
            secret = seed_secret(self._seed_keys[msp], model_id)
            if seed_commitment(secret) != rnd["commitments"][msp]["commitment"]:
                log.warning("model %s: %s's seed commitment is not this dispatcher's; it cannot reveal it", model_id, msp)
                continue
            try:
                ledger.reveal_seed(model_id, secret)
            except Transient:
                raise
            except ContractError as exc:
                log.info("RevealSeed %s for %s: %s", model_id, msp, exc.reason)

    def _assign(self, model_id: str, submitter_msp: str, attempts: int = 5) -> None:
        """Take the model through its seed round as far as this dispatcher can, then assign."""
        ledger = self._independent(submitter_msp)
        for attempt in range(attempts):
            try:
                self._seed_step(model_id)
                if ledger is None:
                    log.info("model %s: no assigner here outside %s; another org's dispatcher assigns it",
                             model_id, submitter_msp)
                    return
                ledger.assign_verifiers(model_id)
                log.info("model %s: verifiers assigned", model_id)
                return
            except ContractError as exc:
                message = exc.reason
                if "already" in message or "once per model" in message or exc.rule.startswith("state"):
                    return
                if exc.rule == "seed":  # waiting for other orgs' commitments or reveals: their events come
                    log.info("model %s: %s", model_id, message)
                    return
                log.warning("seed round / AssignVerifiers for %s failed (%s); attempt %d", model_id, message, attempt + 1)
                if attempt + 1 < attempts:
                    time.sleep(1 + attempt)
        log.warning("AssignVerifiers for %s: giving up for now; the next reconcile pass tries again", model_id)

    def _enqueue(self, model_id: str, assignment: dict[str, Any], submitter_msp: str) -> None:
        interval = int(assignment["interval"])
        deadline = max(self._assigned.get(model_id, (0.0, ""))[0], float(assignment.get("deadline", 0)))
        self._assigned[model_id] = (deadline, submitter_msp)
        for verifier in assignment["verifiers"]:
            task_id = f"{model_id}:{interval}:{verifier[:16]}:{assignment.get('round', 0)}"
            self._enqueue_task(model_id, interval, verifier, task_id)
        log.info("model %s interval %d → %d verifiers (%s)", model_id, interval, len(assignment["verifiers"]),
                 ", ".join(assignment.get("reasons", [])))

    def _expire_loop(self, stop: threading.Event) -> None:
        """Reconcile at once and every ``reconcile_every`` s; expire overdue assignments every ``expire_every`` s."""
        self.reconcile()
        last = time.monotonic()
        self.expire_overdue()
        while not stop.wait(self.expire_every):
            if time.monotonic() - last >= self.reconcile_every:
                self.reconcile()
                last = time.monotonic()
            self.expire_overdue()

    def expire_overdue(self, now: float | None = None) -> None:
        """ExpireAssignment for every watched model whose deadline has passed, and a new verifier
        (AuditAttestation) for every watched attestation check past its deadline."""
        now = time.time() if now is None else now
        with self._lock:
            for aid, (deadline, attester_msp) in list(self._audits.items()):
                ledger = self._independent(attester_msp)
                if deadline < now and ledger is not None:
                    try:
                        ledger.audit_attestation(aid)  # its event brings the new verifier's task
                        self._audits.pop(aid, None)
                    except ContractError as exc:
                        log.warning("AuditAttestation %s: %s", aid, exc.reason)
            for model_id, (deadline, submitter_msp) in list(self._assigned.items()):
                ledger = self._independent(submitter_msp)
                if deadline and deadline < now and ledger is not None:
                    try:
                        ledger.expire_assignment(model_id)
                        # Its events bring the re-staffed rounds' deadlines; until then nothing to watch.
                        self._assigned.pop(model_id, None)
                        log.info("model %s: overdue assignment expired", model_id)
                    except ContractError as exc:
                        log.warning("ExpireAssignment %s: %s", model_id, exc.reason)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainproof.verifier.dispatcher", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assigner", action="append", default=[],
                        help="identity allowed to send AssignVerifiers (repeat, one per org); default: every org admin")
    parser.add_argument("--expire-every", type=float, default=30.0, help="seconds between deadline checks")
    parser.add_argument("--reconcile-every", type=float, default=60.0,
                        help="seconds between passes over the ledger's SUBMITTED and ASSIGNED models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    profile = Profile.load()
    assigners = args.assigner or sorted(n for n, f in profile.identities.items() if f.role == "admin")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    Dispatcher.connect(profile, assigners).run(profile, assigners[0], args.expire_every, stop, args.reconcile_every)


if __name__ == "__main__":
    main()
