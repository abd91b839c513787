"""``trainproof``: the command line for submitters, verifiers' admins, auditors and operators.

Every command takes ``--json`` and ``--identity``; expected failures print one line and a
hint and exit non-zero (codes in ``output.Exit``), never a traceback.
"""
from __future__ import annotations

import sys
from typing import Any, Sequence

import click

from trainproof.cli.commands import (
    analyze, attest, audit, check, config, explorer, keys, lineage, models, network, show, status, submit, verifier,
)
from trainproof.cli.options import common_options
from trainproof.cli.output import CliError, Exit, err_console, fail


class Cli(click.Group):
    """A group whose failures all end the same way: ``output.fail``.

    Click's own error printing (standalone mode) is always off; this method does its job.
    """

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        args = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in args
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except CliError as error:
            fail(error, as_json)
        except click.exceptions.NoArgsIsHelpError as error:  # a bare group: its help, no "error:" line
            click.echo(error.ctx.get_help())
            sys.exit(Exit.USAGE)
        except click.UsageError as error:
            command = error.ctx.command_path if error.ctx else "trainproof"
            fail(CliError(error.format_message(), f"see `{command} --help`", Exit.USAGE), as_json)
        except click.ClickException as error:
            fail(CliError(error.format_message(), "", Exit.USAGE), as_json)
        except (click.Abort, KeyboardInterrupt):
            err_console.print("interrupted")
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@common_options
def cli() -> None:
    """trainproof: trust a neural network you did not train.

    Submit recorded training runs, follow their verification, read birth certificates and
    family trees, check weights files against the ledger, attest a verified model's outputs
    and check receipts, manage verifiers.
    """


for command in (submit.submit, status.status, show.show, show.history, lineage.lineage, models.models,
                check.check, analyze.analyze, verifier.verifier, config.config, network.network, explorer.explorer,
                audit.audit, attest.attest, attest.verify_output, attest.attestation, keys.keys, keys.grant):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(argv, prog_name="trainproof")
