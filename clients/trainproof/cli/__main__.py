"""``python -m trainproof.cli``: the same as the ``trainproof`` console script."""
from trainproof.cli.main import main

main()
