"""trainproof's audit explorer: the channel's blocks, checked, indexed and shown with every verdict.

    indexer.py     full blocks from block 0, checked (hash chain, data hash, signatures), projected
    decode.py      a block taken apart: header, transactions, contract calls, rw-sets, channel config
    signatures.py  creator, endorser and orderer signatures against the channel's MSPs
    project.py     trainproof's records (models, intervals, votes, decisions, verifiers, attestations) from write sets
    db.py          the schema, on SQLite (WAL, default) or PostgreSQL
    pages.py, templates.py, web.py   the read-only web app (server-rendered, server-sent events)
    bundle.py      audit bundles: a model's record that proves its verdict offline
    service.py     indexer + height poller + web server as one process (`trainproof explorer`)
"""
