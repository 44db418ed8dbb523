"""Commands that hand a release to its readers: `lifeqa export` (training code's layouts) and
`lifeqa publish` (the Hugging Face Hub)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from etl.release.exports import exports
from etl.release.exports.layout import count_text

console = Console(stderr=True, soft_wrap=True)

ExportFormat = Enum("ExportFormat", {name: name for name in exports()}, type=str)


def _fail(message: object, code: int = 1) -> typer.Exit:
    console.print(f"[bold red]error:[/] {escape(str(message))}")
    return typer.Exit(code=code)


def export(
    release: Annotated[Path, typer.Argument(help="A release directory (manifest.json, data/).")],
    fmt: Annotated[ExportFormat, typer.Option("--format", help="The layout to write.")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write the export into (must not exist).")],
    prefix: Annotated[str | None, typer.Option("--prefix", help="File-name prefix, for chemblqa (ChEMBL_QA).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out once the new one is complete.")] = False,
) -> None:
    """Rewrite a release in a layout that training code reads (published UniProtQA, OpenBioMed PQA/MQA, ChEMBL-QA)."""
    from etl.release.exports import ExportError, run_export
    from etl.release.manifest import NotAReleaseError
    from etl.release.writer import OutputPathError, ReleaseExistsError

    try:
        result = run_export(release, fmt.value, out, prefix=prefix, force=force)
    except ReleaseExistsError as exc:
        raise _fail(f"{exc} (use --force to replace it)") from None
    except (OutputPathError, NotAReleaseError) as exc:
        raise _fail(exc, code=2) from None
    except ExportError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{result.dataset} {result.version} as {result.export.name} → {result.out}")
    for column in ("file", "split", "entities", "QA pairs"):
        table.add_column(column, justify="right" if column in ("entities", "QA pairs") else "left")
    for file in result.files:
        table.add_row(file.name, file.split, count_text(file.entities), count_text(file.pairs))
    console.print(table)
    console.print(f"content_sha256 {result.content_sha256}; README.md written beside the files")


def publish(
    release: Annotated[Path, typer.Argument(help="A release directory (manifest.json, data/).")],
    repo: Annotated[str, typer.Option("--repo", help="The dataset repository, ORG/NAME (created if missing).")],
    revision: Annotated[str, typer.Option("--revision", help="Branch to commit to (made from main if missing).")] = "main",
    tag: Annotated[str | None, typer.Option("--tag", help="Tag the commit, e.g. with the release's version.")] = None,
    private: Annotated[bool, typer.Option(
        "--private", help="Create the repository private (an existing one keeps its visibility).")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be uploaded; send nothing.")] = False,
    attempts: Annotated[int, typer.Option(
        "--attempts", min=1, help="Tries per Hub call on 5xx, 408/429 or a dropped connection.")] = 4,
    backoff: Annotated[float, typer.Option(
        "--backoff", min=0.0, help="First wait between tries in seconds, doubled each time.")] = 1.0,
) -> None:
    """Publish a release to the Hugging Face Hub: one commit on --revision, then --tag on it.

    The token comes from HF_TOKEN or the Hugging Face login; HF_ENDPOINT names another Hub."""
    from etl.release.manifest import NotAReleaseError
    from etl.release.publish import PublishError, describe_token_source, plan_publish, resolve_token
    from etl.release.publish import publish as publish_plan

    try:
        plan = plan_publish(release, repo, revision, tag, private)
        if dry_run:
            _print_plan(plan, describe_token_source())
            return
        token = resolve_token()
        if not token:
            raise PublishError("no Hugging Face token: set HF_TOKEN or log in with `hf auth login`")
        result = publish_plan(plan, token, attempts=attempts, backoff_s=backoff)
    except NotAReleaseError as exc:
        raise _fail(exc, code=2) from None
    except PublishError as exc:
        raise _fail(exc) from None
    table = Table(title=f"{plan.dataset} {plan.version} → {plan.repo_id}@{plan.revision}", show_header=False)
    for name, value in {
        "outcome": {"published": "published", "unchanged": "unchanged (the branch already held these files)",
                    "already tagged": f"already published (tag {plan.tag} holds these files)"}[result.outcome],
        "commit": result.commit,
        "files": f"{len(result.uploaded)} uploaded, {len(result.deleted)} deleted, {len(plan.files)} in the release",
        "tag": f"{plan.tag} {'created' if result.tag_created else 'already there'}" if plan.tag else "(none)",
        "retries": str(result.retries),
        "content_sha256": plan.content_sha256,
    }.items():
        table.add_row(name, value)
    console.print(table)


def _print_plan(plan, token_source: str) -> None:
    table = Table(title=f"dry run: {plan.dataset} {plan.version} → {plan.repo_id}@{plan.revision}")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for file in plan.files:
        table.add_row(file.path, f"{file.size:,}")
    console.print(table)
    console.print(f"{len(plan.files)} files, {sum(f.size for f in plan.files):,} bytes; tag: {plan.tag or '(none)'}; "
                  f"{'private' if plan.private else 'public'} if created; token: {token_source}. Nothing was sent.")
