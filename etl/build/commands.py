"""`lifeqa build ...`: the command-line face of the builds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from etl.build.run import AccountingError, DatasetSpec, RejectFloodError, run_build
from etl.config import ConfigError
from etl.release.writer import ReleaseExistsError

console = Console(stderr=True)

InputOption = Annotated[list[Path] | None, typer.Option(
    "--input", "-i", help="File, directory or pull snapshot; repeatable; formats mixed and detected by content. "
    "Default: the sample bundled with lifeqa.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Release directory to write. Default: out/<dataset>.")]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Pipeline config YAML. Default: pipelines/<dataset>.yaml.")]
VersionOption = Annotated[str | None, typer.Option("--version", help="Release version label. Default: today's UTC date, YYYY.MM.DD.")]
MasterOption = Annotated[str | None, typer.Option("--master", help="Spark master URL (overrides the config): local[*], spark://host:7077, yarn, k8s://...")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing release directory (only once the new one is complete).")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Spark's own logs.")]

BUILD_ERRORS = (ConfigError, FileNotFoundError, ReleaseExistsError, RejectFloodError, AccountingError, ValueError)


def summary_tables(manifest: dict) -> list[Table]:
    stages = Table(title=f"{manifest['dataset']} {manifest['version']}: records per stage")
    for column in ("stage", "in", "out", "rejected", "seconds"):
        stages.add_column(column, justify="left" if column == "stage" else "right")
    for name, stage in manifest["stages"].items():
        stages.add_row(name, str(stage["records_in"]), str(stage["records_out"]), str(stage["rejected_total"]),
                       f"{stage['seconds']:.1f}")
    counts = manifest["counts"]
    stages.add_row("[bold]total", str(counts["records_in"]), str(counts["records_released"]),
                   str(counts["records_rejected"]), "")
    reasons = Table(title="rejected by reason")
    reasons.add_column("reason")
    reasons.add_column("records", justify="right")
    for reason, n in counts["rejected_by_reason"].items():
        reasons.add_row(reason, str(n))
    splits = Table(title="QA rows by split")
    splits.add_column("split")
    splits.add_column("rows", justify="right")
    for split, n in counts["rows_by_split"].items():
        splits.add_row(split, str(n))
    return [stages, reasons, splits]


def run_build_command(spec: DatasetSpec, config, inputs: list[Path], default_inputs: list[Path], detect,
                      out: Path | None, version: str | None, master: str | None, force: bool, verbose: bool) -> None:
    """Shared body of the build commands: resolve inputs, run, print the summary, map errors to exit codes."""
    from etl.build.inputs import resolve_inputs
    from etl.spark import get_spark

    started = time.monotonic()
    out = out or Path("out") / spec.name
    try:
        with console.status(f"[bold]{spec.name}[/]: reading inputs") as status:
            resolved = resolve_inputs(inputs or default_inputs, detect)
            status.update(f"[bold]{spec.name}[/]: starting Spark")
            spark = get_spark(master or config.spark.master, f"lifeqa-build-{spec.name}", verbose,
                              {"spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions), **config.spark.conf})
            status.update(f"[bold]{spec.name}[/]: parse, normalize, qa (Spark, {spark.sparkContext.master})")
            manifest = run_build(spec, spark, resolved, config, out, version, force,
                                 report=lambda step: status.update(f"[bold]{spec.name}[/]: {step}"))
    except BUILD_ERRORS as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    for summary in summary_tables(manifest):
        console.print(summary)
    elapsed = time.monotonic() - started
    console.print(f"[green]wrote[/] {out} ({manifest['counts']['rows']} QA rows, "
                  f"{manifest['counts']['records_released']} records) in {elapsed:.1f}s; "
                  f"content sha256 {manifest['content_sha256'][:16]}…")


def load_settings(model, config: Path | None, dataset: str):
    """The dataset's pipeline config, or exit 1 with the config error."""
    from etl.config import load_config

    try:
        return load_config(model, config, dataset)
    except ConfigError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None


def uniprotqa(
    inputs: InputOption = None,
    out: OutOption = None,
    config: ConfigOption = None,
    version: VersionOption = None,
    master: MasterOption = None,
    force: ForceOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Build UniProtQA from UniProt flat files, XML, REST JSON or pull snapshots."""
    from etl.build.uniprotqa import uniprotqa_spec
    from etl.config import UniProtQAConfig
    from etl.parse.uniprot import detect_format
    from etl.paths import SAMPLE_DIR

    settings = load_settings(UniProtQAConfig, config, "uniprotqa")
    run_build_command(uniprotqa_spec(settings), settings, inputs or [], [SAMPLE_DIR / "uniprot"], detect_format,
                      out, version, master, force, verbose)


def pubchemqa(
    inputs: InputOption = None,
    out: OutOption = None,
    config: ConfigOption = None,
    version: VersionOption = None,
    master: MasterOption = None,
    force: ForceOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Build PubChemQA from PUG-View records or annotation pages, SDF, PUG REST, CID-SMILES/Title or ChEBI-20."""
    from etl.build.pubchemqa import pubchemqa_spec
    from etl.config import PubChemQAConfig
    from etl.parse.pubchem import detect_pubchem_format
    from etl.paths import SAMPLE_DIR

    settings = load_settings(PubChemQAConfig, config, "pubchemqa")
    run_build_command(pubchemqa_spec(settings), settings, inputs or [], [SAMPLE_DIR / "pubchem"],
                      detect_pubchem_format, out, version, master, force, verbose)
