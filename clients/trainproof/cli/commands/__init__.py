"""One module per command (or command group); ``trainproof.cli.main`` registers them."""
