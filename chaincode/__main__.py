"""Run the trainproof chaincode as a service: ``python -m trainproof.chaincode --address … --ccid …``."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from trainproof.chaincode.app import handler
from trainproof.chaincode.contract.config import MEMBERS_ENV
from trainproof.chaincode.shim.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m trainproof.chaincode", description=__doc__)
    parser.add_argument("--address", default=os.environ.get("CHAINCODE_SERVER_ADDRESS", "127.0.0.1:17159"))
    parser.add_argument("--ccid", default=os.environ.get("CHAINCODE_ID"), required="CHAINCODE_ID" not in os.environ)
    parser.add_argument("--tls-key", type=Path)
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-client-ca", type=Path, help="CA of the peers' client certificates")
    parser.add_argument("--test-plumbing", action="store_true", help="also serve PutValue (test networks only)")
    parser.add_argument("--members", default=os.environ.get(MEMBERS_ENV, ""),
                        help="comma-separated MSP ids of the member orgs, whose admins approve settings changes")
    args = parser.parse_args()
    os.environ[MEMBERS_ENV] = args.members  # read by chaincode.contract.config.members()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    server = serve(args.address, args.ccid, handler(args.test_plumbing), args.tls_key, args.tls_cert, args.tls_client_ca)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
