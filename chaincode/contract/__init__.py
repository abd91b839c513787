"""The trainproof contract: birth certificates, verifier assignment, votes and verdicts.

``trainproof.chaincode.contract.router.handle`` is the entry point; everything else is one job per module.
"""
