"""`lifeqa build DATASET`: one command per registered dataset, all from one code path."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from etl.config import ConfigError
from etl.pipeline.accounting import AccountingError, RejectFloodError
from etl.pipeline.dataset import Dataset
from etl.split import STRATEGIES_FOR
from etl.pipeline.release_build import EmptyReleaseError, NullInRequiredColumnError
from etl.release.writer import BuildInProgressError, OutputPathError, ReleaseExistsError

console = Console(stderr=True)

InputOption = Annotated[list[Path] | None, typer.Option(
    "--input", "-i", help="File, directory or pull snapshot; repeatable; formats mixed and detected by content. "
    "Default: the sample bundled with lifeqa.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Release directory to write. Default: out/<dataset>.")]
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="Pipeline config YAML. Default: pipelines/<dataset>.yaml.")]
VersionOption = Annotated[str | None, typer.Option("--version", help="Release version label. Default: today's UTC date, "
    "YYYY.MM.DD; with --registry, CalVer YYYY.MM (this month) or YYYY.MM.N (its next rebuild).")]
RegistryOption = Annotated[str | None, typer.Option(
    "--registry", help="Add the release to this registry (a directory or a pyarrow filesystem URI) as "
    "NAME/VERSION instead of writing --out; an existing version is refused.")]
MasterOption = Annotated[str | None, typer.Option("--master", help="Spark master URL (overrides the config): local[*], spark://host:7077, yarn, k8s://...")]
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing release directory (only once the new one is complete).")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show Spark's own logs.")]
PreviousOption = Annotated[str | None, typer.Option(
    "--previous", help="A previous release of the same dataset, a directory or NAME@VERSION / NAME@latest in "
    "--registry (default: releases/) (overrides split.previous): its entities keep "
    "their splits; new ones join the split of their homologs (homology) or follow their key (hash, scaffold).")]
SplitStrategy = Enum("SplitStrategy", {name: name for names in STRATEGIES_FOR.values() for name in names}, type=str)

SplitStrategyOption = Annotated[SplitStrategy | None, typer.Option(
    "--split-strategy", help="How entities are split (overrides split.strategy): homology (proteins: no homologs "
    "across splits, needs MMseqs2), scaffold (molecules: no Bemis-Murcko scaffold across splits), hash.")]

# Each is one line and exit 1; a path that cannot be a release (OutputPathError) is a usage error, exit 2.
BUILD_ERRORS = (ConfigError, FileNotFoundError, BuildInProgressError, RejectFloodError, AccountingError,
                NullInRequiredColumnError, EmptyReleaseError, ValueError)


def fail(message: str, code: int = 1):
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)  # one line, however long
    return typer.Exit(code=code)


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


def command_line(context: typer.Context) -> str:
    """The running command as a shell line: its path and every option given, as the parser read them
    (under a test runner sys.argv is the runner's, so the line is rebuilt from the parsed values)."""
    import shlex

    words = ["lifeqa", *context.command_path.split()[1:]]
    for param in context.command.params:
        value = context.params.get(param.name)
        if value is None or value is False or value == [] or value == ():
            continue
        flag = max(param.opts, key=len)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            words += [flag] if item is True else [flag, str(getattr(item, "value", item))]
    return " ".join(shlex.quote(word) for word in words)


def release_target(dataset: Dataset, out: Path | None, version: str | None, force: bool, registry: str | None):
    """(directory the build writes, version, Registry or None): --out, or the version's place in --registry."""
    from etl.release.registry import Registry, RegistryError, next_version

    if registry is None:
        return out or Path("out") / dataset.name, version, None
    if out is not None:
        raise RegistryError("--out and --registry exclude each other: the registry places NAME/VERSION itself")
    if force:
        raise RegistryError("--force with --registry: a version is immutable; build a new version instead")
    found = Registry(registry)
    version = version or next_version(found.versions(dataset.name))
    found.check_new(dataset.name, version)
    return found.build_directory(dataset.name, version), version, found


def previous_directory(previous: str | None, registry: str | None) -> str | None:
    """--previous as a local directory: a path as given, or NAME@VERSION / NAME@latest resolved in the registry."""
    from etl.release.registry import RegistryError, locate, parse_reference

    if previous is None or parse_reference(previous) is None or Path(previous).exists():
        return previous
    local = locate(previous, registry).local_path()
    if local is None:
        raise RegistryError(f"--previous {previous}: splits pin to a release on the local filesystem; "
                            "copy it out of the registry and pass its directory")
    return str(local)


def check_inputs_exist(paths: list[Path]) -> None:
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing:
        raise FileNotFoundError(f"input not found: {', '.join(missing)}")


def run_build_command(dataset: Dataset, inputs: list[Path], config_path: Path | None, out: Path | None,
                      version: str | None, master: str | None, force: bool, verbose: bool,
                      split_strategy: str | None = None, previous: str | None = None,
                      registry: str | None = None, command: str = "") -> None:
    """Load the config, resolve inputs, run, print the summary; errors become one line and exit 1."""
    from etl.config import load_config
    from etl.pipeline.inputs import resolve_inputs
    from etl.pipeline.progress import progress_for, watching
    from etl.pipeline.release_build import build_release
    from etl.release.writer import check_output, release_lock, scratch_directory
    from etl.similarity.mmseqs import MissingToolError
    from etl.spark import get_spark
    from etl.split import check_previous, check_split_tools

    started = time.monotonic()
    try:
        # Everything that can be checked is checked before Spark starts.
        out, version, target_registry = release_target(dataset, out, version, force, registry)
        split_overrides = {"strategy": split_strategy, "previous": previous_directory(previous, registry)}
        config = load_config(dataset.config_model, config_path, dataset.name,
                             overrides={"split": {k: v for k, v in split_overrides.items() if v is not None}})
        check_split_tools(config.split)
        check_previous(config.split, dataset.name)
        check_output(out, force)
        inputs = inputs or [dataset.sample]
        check_inputs_exist(inputs)
        # The scratch directory holds decompressed copies of gzip inputs, read in chunks by the tasks.
        with release_lock(out), scratch_directory(out) as scratch:
            with (console.status(f"[bold]{dataset.name}[/]: reading inputs, starting Spark"),
                  ThreadPoolExecutor(1, thread_name_prefix="lifeqa-inputs") as pool):
                # The driver's one pass over the inputs (checksums, chunks, gzip copies) runs while
                # the JVM starts: hashing, inflating and file reads let go of the GIL.
                reading = pool.submit(resolve_inputs, inputs, dataset.detect_format, dataset.record_ends, scratch)
                spark = get_spark(master or config.spark.master, f"lifeqa-build-{dataset.name}", verbose,
                                  {"spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
                                   **config.spark.conf})
                resolved = reading.result()
            # Each stage and release step as it runs: live on a terminal, a line each in a log.
            with watching(progress_for(console, spark.sparkContext, verbose), spark.sparkContext):
                manifest = build_release(dataset, spark, resolved, config, out, version, force, command=command)
        if target_registry is not None:
            target_registry.add(out, manifest)  # indexed only once the release is committed in place
    except OutputPathError as exc:
        raise fail(f"--out {exc}", code=2) from None
    except MissingToolError as exc:
        raise fail(str(exc)) from None
    except ReleaseExistsError as exc:
        raise fail(f"{exc}; pass --force to replace it") from None
    except BUILD_ERRORS as exc:
        raise fail(str(exc)) from None
    for summary in summary_tables(manifest):
        console.print(summary)
    for origin in manifest["incomplete_inputs"]:
        console.print(f"[bold yellow]warning:[/] {origin}: the file's syntax breaks where its format cannot "
                      "resume; records after that point may be missing (reason unreadable_remainder in rejects)")
    elapsed = time.monotonic() - started
    where = f"{registry} as {dataset.name}@{version}" if target_registry is not None else str(out)
    console.print(f"[green]wrote[/] {where} ({manifest['counts']['rows']} QA rows, "
                  f"{manifest['counts']['records_released']} records) in {elapsed:.1f}s; "
                  f"content sha256 {manifest['content_sha256'][:16]}…")


def build_command(dataset: Dataset):
    """The `lifeqa build NAME` command of `dataset`."""

    def command(
        context: typer.Context,
        inputs: InputOption = None,
        out: OutOption = None,
        config: ConfigOption = None,
        version: VersionOption = None,
        master: MasterOption = None,
        force: ForceOption = False,
        verbose: VerboseOption = False,
        split_strategy: SplitStrategyOption = None,
        previous: PreviousOption = None,
        registry: RegistryOption = None,
    ) -> None:
        run_build_command(dataset, inputs or [], config, out, version, master, force, verbose,
                          split_strategy.value if split_strategy else None, previous, registry,
                          command_line(context))

    command.__doc__ = dataset.help
    return command
