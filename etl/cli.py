"""The `lifeqa` command line: build, pull, embed, leakage."""

from __future__ import annotations

import typer

from etl.datasets import datasets
from etl.embed.commands import embed
from etl.pipeline.build_command import build_command
from etl.quality.commands import validate
from etl.release.commands import leakage
from etl.release.export_commands import export, publish
from etl.release.registry_commands import diff, releases_app
from etl.sources.commands import pull_app

app = typer.Typer(
    name="lifeqa",
    help="Rebuild PubChemQA and UniProtQA: pull, build, release, embed.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
build_app = typer.Typer(help="Build a dataset release from source files or snapshots.", no_args_is_help=True)
app.add_typer(build_app, name="build")
for name, dataset in datasets().items():
    build_app.command(name)(build_command(dataset))
app.add_typer(pull_app, name="pull")
app.add_typer(releases_app, name="releases")
app.command()(embed)
app.command()(leakage)
app.command()(validate)
app.command()(export)
app.command()(publish)
app.command()(diff)


@app.command()
def version() -> None:
    """Print lifeqa's version."""
    from etl import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
