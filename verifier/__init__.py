"""trainproof verifier workers: ``celery -A verifier worker`` (see verifier.app)."""
from verifier.app import app

__all__ = ["app"]
