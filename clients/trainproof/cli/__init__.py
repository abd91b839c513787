"""The ``trainproof`` command line (entry point ``trainproof.cli.main:main``).

Modules: ``main`` (the command group and its error handling), ``options`` (--json,
--identity, argument types), ``session`` (profile, gateway, storage for one command),
``config`` (which identity), ``errors`` (expected failures → one line, hint, exit code),
``output`` (printing, exit codes), ``progress`` (transfer bars), ``identities``
(certificate fingerprints), ``commands/`` (one module per command).
"""
