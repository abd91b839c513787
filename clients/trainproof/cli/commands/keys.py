"""``trainproof keys deliver MODEL_ID`` and ``trainproof grant MODEL_ID IDENTITY``: a confidential
model's data keys, as its submitter hands them out (trainproof.confidential.artifacts).

The keys live only with the submitter (``$TRAINPROOF_HOME/keys/MODEL_ID.json``) and, wrapped to
one certificate each, on the ledger. ``submit --confidential`` delivers them once the model is
assigned; ``keys deliver`` does it again for verifiers a re-staffing brought in, and for the
identities granted access; ``grant`` records a grant and delivers to that identity.
"""
from __future__ import annotations

import click

from trainproof.cli.identities import certificate_of
from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import CliError, Exit, console, emit_json, safe, short
from trainproof.cli.session import Session


def _keys(session: Session, model_id: str) -> dict[str, bytes]:
    from trainproof.confidential.artifacts import ConfidentialError, KeyStore

    try:
        return KeyStore(session.profile.home, session.identity).load(model_id)
    except ConfidentialError as exc:
        raise CliError(str(exc), "run this as the identity that submitted the model", Exit.NOT_FOUND) from None


@click.group()
@common_options
def keys() -> None:
    """A confidential model's data keys (its submitter only)."""


@keys.command()
@click.argument("model_id", type=MODEL_ID)
@common_options
@pass_session
def deliver(session: Session, model_id: str) -> None:
    """Deliver the data keys to the ACTIVE verifiers assigned now, the identities granted access, and yourself."""
    from trainproof.confidential import keywrap
    from trainproof.confidential.artifacts import assigned_certificates, deliver as post

    data_keys = _keys(session, model_id)
    certs = assigned_certificates(session.ledger, model_id)
    certs += [keywrap.load_certificate(g["cert_pem"]) for g in session.ledger.list_grants(model_id) if g.get("cert_pem")]
    certs.append(keywrap.load_certificate(session.files.cert.read_bytes()))
    delivered = post(session.ledger, model_id, data_keys, certs)
    if session.as_json:
        emit_json({"model_id": model_id, "delivered_to": delivered})
        return
    console.print(f"delivered {len(data_keys)} data key(s) of model {safe(model_id)} to {len(delivered)} identity(ies): "
                  + ", ".join(short(fp, 16) for fp in delivered))


@keys.command()
@click.option("--every", type=click.FloatRange(min=1), default=30.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit.")
@common_options
@pass_session
def agent(session: Session, every: float, once: bool) -> None:
    """Keep delivering: whenever one of your confidential models is assigned or re-staffed, wrap its
    keys to the ACTIVE verifiers assigned now; its final snapshot's key to the verifier an audit
    draws for one of its attestations, and to the verifiers checking the lineage of a child that you
    or one of your grantees submitted; and the key of each sealed batch file you attested to the
    verifier its audit draws (runs until interrupted; the submitter's and attester's side of key
    delivery)."""
    import time

    from trainproof.confidential.artifacts import KeyAgent, KeyStore

    worker = KeyAgent(session.ledger, KeyStore(session.profile.home, session.identity))
    while True:
        for model_id, delivered in worker.run_once().items():
            line = {"model_id": model_id, "delivered_to": delivered}
            if session.as_json:
                emit_json(line)
            else:
                console.print(f"model {safe(model_id)}: keys delivered to {len(delivered)} verifier(s) assigned, "
                              "auditing or checking a child's lineage")
        if once:
            return
        time.sleep(every)


@click.command()
@click.argument("model_id", type=MODEL_ID)
@click.argument("who", metavar="IDENTITY|CERT_FILE")
@click.option("--mspid", help="The certificate's MSP (needed for a CERT_FILE; an identity of the profile knows its own).")
@click.option("--note", help="Why (recorded with the grant).")
@common_options
@pass_session
def grant(session: Session, model_id: str, who: str, mspid: str | None, note: str | None) -> None:
    """As a confidential model's submitter: let WHO read its artifacts (check --restore, attest), on the ledger."""
    from trainproof.confidential import keywrap
    from trainproof.confidential.artifacts import deliver as post

    pem, _ = certificate_of(session.profile, who)
    if who in session.profile.identities:
        mspid = session.profile.identities[who].mspid
    if not mspid:
        raise CliError(f"--mspid is needed for the certificate file {who}", "e.g. --mspid Org2MSP", Exit.USAGE)
    data_keys = _keys(session, model_id)
    record = session.ledger.grant_access(model_id, mspid, cert_pem=pem.decode(), note=note)
    delivered = post(session.ledger, model_id, data_keys, [keywrap.load_certificate(pem)])
    if session.as_json:
        emit_json({"grant": record, "delivered_to": delivered})
        return
    console.print(f"granted {safe(record['common_name'] or who)} ({safe(mspid)}) access to model {safe(model_id)}; "
                  f"{len(data_keys)} data key(s) delivered to {short(delivered[0], 16)}")
