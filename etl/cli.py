"""The `lifeqa` command line: build, pull, embed."""

from __future__ import annotations

import typer

from etl.build import commands as build_commands
from etl.embed.commands import embed
from etl.sources.commands import pull_app

app = typer.Typer(
    name="lifeqa",
    help="Rebuild PubChemQA and UniProtQA: pull, build, release, embed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
build_app = typer.Typer(help="Build a dataset release from source files or snapshots.", no_args_is_help=True)
app.add_typer(build_app, name="build")
build_app.command("uniprotqa")(build_commands.uniprotqa)
build_app.command("pubchemqa")(build_commands.pubchemqa)
app.add_typer(pull_app, name="pull")
app.command()(embed)


@app.command()
def version() -> None:
    """Print lifeqa's version."""
    from etl import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
