"""Confidential models (issue #18): the data keys of sealed artifacts, wrapped to their readers.

The submitter seals its dataset and snapshots with fresh data keys (``trainproof.storage.sealing``,
``ArtifactStore.put_sealed``); ``keywrap`` wraps each key to one reader's certificate so that it
can travel on the ledger (``DeliverDataKeys``) and be opened only by that reader.
"""
