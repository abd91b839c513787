"""trainproof verifier workers: ``celery -A trainproof.verifier worker`` (see verifier.app)."""
from trainproof.verifier.app import app

__all__ = ["app"]
