"""``claw-lab token``: mint API bearer tokens and their ``CLAW_API_TOKENS`` entries."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from claw_lab.cli.common import app, console, new_app
from claw_lab.tokens import mint_token

token_app = new_app("API bearer tokens.")
app.add_typer(token_app, name="token")


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option(help="Who or what the token is for (letters, digits, _ . @ -).")],
    role: Annotated[
        str, typer.Option(help="viewer (reads), operator (submit, cancel, retry) or admin (worker control).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"token": ..., "entry": ...} for scripts.')] = False,
) -> None:
    """Mint a random token and print it once with its CLAW_API_TOKENS entry (only the entry's digest is stored)."""
    try:
        token, entry = mint_token(name, role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if as_json:
        typer.echo(json.dumps({"token": token, "entry": entry.entry}))
        return
    console.print("[bold]token[/] [dim](shown this once; store it now — it cannot be recovered)[/]")
    typer.echo(token)
    console.print("[bold]CLAW_API_TOKENS entry[/] [dim](add it, comma-separated, to the API's CLAW_API_TOKENS)[/]")
    typer.echo(entry.entry)
