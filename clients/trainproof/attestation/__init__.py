"""trainproof's contract-signed model outputs (issue #17): what an attestation hashes and proves.

    tensors.py   input/output files read safely (safetensors, .npy, JSON; never pickle), the
                 format-independent SHA-256 of a tensor and of each batch row, and the exact
                 float32 ⇄ JSON conversion for outputs small enough to go on the ledger
    merkle.py    the RFC 6962 / RFC 9162 Merkle tree that commits a batch of attested outputs
                 under one root, with inclusion paths a verifier checks for a sampled item

Both are numpy and hashlib only: checking a receipt offline never needs torch. Running a
model is ``trainproof.ml.inference``.
"""
