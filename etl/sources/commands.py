"""`lifeqa pull uniprot|pubchem`: pull a source into a resumable snapshot directory."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from etl.sources.http import PullError
from etl.sources.pubchem import PubChemQuery, pull_pubchem
from etl.sources.settings import (
    PUBCHEM_BASE_URL,
    PUBCHEM_BULK_SMILES_URL,
    UNIPROT_BASE_URL,
    PullSettings,
    RateLimit,
)
from etl.sources.snapshot import PullSummary
from etl.sources.uniprot import DEFAULT_QUERY, UniProtQuery, pull_uniprot

pull_app = typer.Typer(
    help="Pull UniProt or PubChem into a snapshot directory: rate-limited, retried, resumable.",
    no_args_is_help=True,
)
err_console = Console(stderr=True)
out_console = Console()


class UniProtFormatChoice(str, Enum):
    json = "json"
    txt = "txt"
    xml = "xml"


class StructuresChoice(str, Enum):
    pug_rest = "pug-rest"
    bulk = "bulk"


def _base_url_option(root: str):
    """`--base-url` of one service: each pull names its own root and default."""
    return Annotated[str, typer.Option("--base-url", help=f"{root} root; a mirror or test server may stand in.")]


UniProtBaseUrlOpt = _base_url_option("UniProt REST")
PubChemBaseUrlOpt = _base_url_option("PubChem")


class RateColumn(ProgressColumn):
    """Pages per second, from rich's moving estimate."""

    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.1f} pages/s" if task.speed else "", style="progress.data.speed")


class ProgressObserver:
    """Draws one progress bar per stage (pages, records, rate, time left)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def on_plan(self, stage: str, total_pages: int | None, done_pages: int, done_records: int) -> None:
        if stage in self.tasks:
            self.progress.update(self.tasks[stage], total=total_pages)
            return
        self.tasks[stage] = self.progress.add_task(stage, total=total_pages, completed=done_pages, records=done_records)

    def on_page(self, stage: str, records: int) -> None:
        task_id = self.tasks[stage]
        previous = self.progress.tasks[self.progress.task_ids.index(task_id)].fields["records"]
        self.progress.update(task_id, advance=1, records=previous + records)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        TextColumn("{task.fields[records]:>9,} records"),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )


def _configure_logging(verbose: bool) -> None:
    logger = logging.getLogger("etl.sources")
    logger.handlers[:] = [RichHandler(console=err_console, show_path=False, markup=False)]
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logger.propagate = False


def _summary_table(summary: PullSummary) -> Table:
    # Borderless, so the 64-digit digest fits an 80-column terminal whole, ready to copy.
    table = Table(title=f"{summary.service} snapshot", show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    expected = "" if summary.expected_records is None else f" of {summary.expected_records:,} announced"
    rows = {
        "snapshot": str(summary.path),
        "complete": "yes" if summary.complete else "no (run the same command to resume)",
        "release": summary.release or "(none given by the service)",
        "pages": f"{summary.pages:,}"
        + (f" (resumed after {summary.resumed_at_page})" if summary.resumed_at_page else ""),
        "records": f"{summary.records:,}{expected}",
        "requests": f"{summary.stats.requests:,} ({summary.stats.retries} retried)",
        "waited": f"{summary.stats.backoff_s:.1f}s backing off, {summary.stats.throttled_s:.1f}s rate-limited",
        "received": f"{summary.stats.bytes / 1e6:,.1f} MB",
        "content sha256": summary.content_sha256,
    }
    rows.update({key.replace("_", " "): str(value) for key, value in sorted(summary.details.items())})
    for name, value in rows.items():
        table.add_row(name, value)
    return table


@dataclass(frozen=True)
class SharedOptions:
    """The options every pull command takes: where the snapshot goes and how the pull behaves."""

    snapshot: Path
    contact: str
    attempts: int
    timeout: float
    backoff: float
    verbose: bool

    def settings(self, **extra: object) -> PullSettings:
        if not self.contact:
            err_console.print(
                "[yellow]warning:[/] no contact e-mail; set --contact or LIFEQA_CONTACT (the services ask for one)"
            )
        return PullSettings(
            contact=self.contact,
            attempts=self.attempts,
            read_timeout_s=self.timeout,
            backoff_base_s=self.backoff,
            **extra,
        )

    def run(self, pull: Callable[[ProgressObserver], PullSummary]) -> None:
        """Run a pull under progress bars and print its summary; a failure or Ctrl-C exits non-zero."""
        _configure_logging(self.verbose)
        try:
            with _progress() as progress:
                summary = pull(ProgressObserver(progress))
        except PullError as error:
            err_console.print(f"[red]error:[/] {error}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err_console.print(
                f"[yellow]interrupted:[/] the pages pulled so far are kept in {self.snapshot}; "
                "run the same command to resume"
            )
            raise typer.Exit(130) from None
        if summary.pages == summary.resumed_at_page and summary.complete:
            err_console.print(f"{self.snapshot} is already a complete snapshot; nothing was pulled")
        out_console.print(_summary_table(summary))


def _shared_options(
    snapshot: Annotated[
        Path,
        typer.Option(
            "--snapshot",
            help="Snapshot directory. A new one is created; an unfinished one is resumed; a complete one is left as is.",
        ),
    ],
    contact: Annotated[
        str,
        typer.Option(
            "--contact", envvar="LIFEQA_CONTACT", help="E-mail put in the User-Agent so the service can reach you."
        ),
    ] = "",
    attempts: Annotated[
        int, typer.Option("--attempts", min=1, help="Tries per request before the pull stops (resumable).")
    ] = 5,
    timeout: Annotated[float, typer.Option("--timeout", min=0.01, help="Seconds a response may stay silent.")] = 120.0,
    backoff: Annotated[
        float, typer.Option("--backoff", min=0.0001, help="First retry waits up to this many seconds; doubles after.")
    ] = 1.0,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log every retry, backoff and rate-limit wait.")
    ] = False,
) -> SharedOptions:
    """The options every pull takes, declared once: `pull_command` adds this signature's to each command's."""
    return SharedOptions(snapshot, contact, attempts, timeout, backoff, verbose)


def pull_command(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register `lifeqa pull NAME` from a function `(shared: SharedOptions, **own options)`.

    The command line shows --snapshot first, then the command's own options, then the
    shared ones, each declared once in `_shared_options`."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        shared = list(inspect.signature(_shared_options, eval_str=True).parameters.values())
        own = list(inspect.signature(command, eval_str=True).parameters.values())[1:]  # all but `shared`

        def cli(**values: object) -> None:
            shared_values = {parameter.name: values.pop(parameter.name) for parameter in shared}
            command(_shared_options(**shared_values), **values)

        # Keyword-only, so an option with a default may come before one without.
        parameters = [shared[0], *own, *shared[1:]]
        cli.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters])
        cli.__doc__ = command.__doc__
        pull_app.command(name)(cli)
        return command

    return register


@pull_command("uniprot")
def uniprot(
    shared: SharedOptions,
    query: Annotated[
        str, typer.Option("--query", help="UniProtKB query, e.g. 'reviewed:true AND organism_id:9606'.")
    ] = DEFAULT_QUERY,
    fmt: Annotated[
        UniProtFormatChoice, typer.Option("--format", help="json pages, txt flat file or xml.")
    ] = UniProtFormatChoice.json,
    base_url: UniProtBaseUrlOpt = UNIPROT_BASE_URL,
    page_size: Annotated[
        int, typer.Option("--page-size", min=1, max=500, help="Entries per page (UniProt allows 500).")
    ] = 500,
    rate: Annotated[int, typer.Option("--rate", min=1, help="Most UniProt requests per second.")] = 10,
) -> None:
    """Pull UniProtKB search results, following the Link rel=next cursor to the last page."""
    settings = shared.settings(uniprot_limits=[RateLimit(requests=rate, per_seconds=1)])
    spec = UniProtQuery(query=query, format=fmt.value, page_size=page_size, base_url=base_url)
    shared.run(lambda observer: pull_uniprot(shared.snapshot, spec, settings, observer))


@pull_command("pubchem")
def pubchem(
    shared: SharedOptions,
    base_url: PubChemBaseUrlOpt = PUBCHEM_BASE_URL,
    max_pages: Annotated[
        int | None, typer.Option("--max-pages", min=1, help="Pull only the first N annotation pages.")
    ] = None,
    structures: Annotated[
        StructuresChoice,
        typer.Option("--structures", help="pug-rest: property batches for the CIDs found; bulk: CID-SMILES.gz."),
    ] = StructuresChoice.pug_rest,
    bulk_url: Annotated[
        str, typer.Option("--bulk-url", help="CID-SMILES.gz location (its .md5 next to it).")
    ] = PUBCHEM_BULK_SMILES_URL,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="CIDs per PUG REST property request.")] = 200,
) -> None:
    """Pull PubChem Record Description annotations (every page) and the structures of their CIDs.

    Requests stay within PubChem's policy: at most 5 per second and 400 per minute."""
    settings = shared.settings()
    spec = PubChemQuery(
        base_url=base_url, max_pages=max_pages, structures=structures.value, batch_size=batch_size, bulk_url=bulk_url
    )
    shared.run(lambda observer: pull_pubchem(shared.snapshot, spec, settings, observer))


if __name__ == "__main__":
    pull_app()
