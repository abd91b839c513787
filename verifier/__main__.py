"""``python -m verifier`` prints how to run the parts."""
print(__doc__ or "", "usage:\n"
      "  TRAINPROOF_VERIFIER=org1-verifier1 celery -A verifier worker --loglevel=info   # one worker per identity\n"
      "  python -m verifier.dispatcher                                                  # events → tasks\n"
      "  python -m verifier.register                                                    # register local verifiers")
