"""``trainproof lineage MODEL_ID``: the family tree (ancestors and descendants) drawn as a tree."""
from __future__ import annotations

from typing import Any

import click
from rich.tree import Tree

from trainproof.cli.options import MODEL_ID, common_options, pass_session
from trainproof.cli.output import console, emit_json, safe, styled, when
from trainproof.cli.session import Session


@click.command()
@click.argument("model_id", type=MODEL_ID)
@common_options
@pass_session
def lineage(session: Session, model_id: str) -> None:
    """The model's family tree: every ancestor up to the root, every descendant below."""
    answer = session.ledger.get_lineage(model_id)
    if session.as_json:
        emit_json(answer)
        return
    console.print(tree(answer))
    if answer["truncated"]:
        console.print("[yellow]descendants truncated by the contract's limit[/]")


def tree(answer: dict[str, Any]) -> Tree:
    """Root first; the asked-for model marked; its descendants under their parents."""
    me = answer["model"]
    line = [*reversed(answer["ancestors"]), me]  # root … parent, model
    root = node = Tree(_label(line[0], me["model_id"]), guide_style="dim")
    for member in line[1:]:
        node = node.add(_label(member, me["model_id"]))
    branches = {me["model_id"]: node}
    for child in answer["descendants"]:  # breadth first: a parent is always placed before its children
        parent = branches.get(child["parent_id"])
        if parent is not None:
            branches[child["model_id"]] = parent.add(_label(child, me["model_id"]))
    return root


def _label(node: dict[str, Any], selected: str) -> str:
    # Anyone may declare a parent; only a VERIFIED child's verifiers checked that it starts from
    # the parent's final weights, so every other relation is shown as a claim.
    claim = "  [yellow](lineage not verified)[/]" if node["parent_id"] and node["status"] != "VERIFIED" else ""
    text = (f"[bold]{safe(node['name'])}[/] v{safe(node['version'])}  {safe(node['model_id'])}  {styled(node['status'])}"
            f"{claim}  [dim]{safe(node['submitter']['mspid'])}, {when(node['submitted_at'])}[/]")
    return f"{text}  [reverse] this model [/]" if node["model_id"] == selected else text
