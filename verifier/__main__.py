"""``python -m trainproof.verifier`` prints how to run the parts."""
print(__doc__ or "", "usage:\n"
      "  TRAINPROOF_VERIFIER=org1-verifier1 celery -A trainproof.verifier worker --loglevel=info   # one worker per identity\n"
      "  python -m trainproof.verifier.dispatcher                                                  # events → tasks\n"
      "  python -m trainproof.verifier.register                                                    # register local verifiers")
