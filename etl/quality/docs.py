"""A validation written into a release: the suites, the results, and GX's Data Docs site.

    quality/validation.json              summary, failed expectations, every suite's GX result
    quality/expectations/<suite>.json    the suites run (GX's JSON; `lifeqa validate --suite` reads them)
    quality/docs/index.html              Data Docs: one page per suite and per validation
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from etl.quality.validate import Validation, ephemeral_context

QUALITY_DIR = "quality"
DOCS_INDEX = f"{QUALITY_DIR}/docs/index.html"
RESULTS_FILE = f"{QUALITY_DIR}/validation.json"
SITE = "lifeqa_release"


def write_json(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n")


def offline_summary(validation: Validation, pages: dict[str, str]) -> str:
    """A static table of the suites, their status and their validation pages. GX's index draws its
    own table with scripts from CDNs, so a release opened offline would show an empty index."""
    rows = "".join(
        f'<tr><td><a href="{html.escape(pages.get(r.suite_name, ""))}">{html.escape(r.suite_name)}</a></td>'
        f'<td>{html.escape(suite.meta["table"])}</td><td>{"Succeeded" if r.success else "Failed"}</td>'
        f'<td>{r.statistics["successful_expectations"]} of {r.statistics["evaluated_expectations"]}</td></tr>'
        for suite, r in zip(validation.suites, validation.results))
    return ('<section id="lifeqa-validation" class="container"><h2>lifeqa release validation</h2>'
            f'<p>{"Passed" if validation.passed else "Failed"}: every error-level expectation '
            f'{"passed" if validation.passed else "did not pass"}.</p>'
            '<table class="table"><tr><th>suite</th><th>table</th><th>status</th><th>expectations met</th></tr>'
            f"{rows}</table></section>")


def build_data_docs(validation: Validation, directory: Path) -> Path:
    """GX's Data Docs for `validation`, built into `directory`; returns its index.html."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                            ValidationResultIdentifier)

    context = ephemeral_context()
    context.add_data_docs_site(site_name=SITE, site_config={
        "class_name": "SiteBuilder", "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(directory.resolve())}})
    for suite, result in zip(validation.suites, validation.results):
        context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=[
            e.configuration.to_domain_obj() for e in suite.expectations], meta=suite.meta))
        key = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
                                         run_id=RunIdentifier(run_name="lifeqa"), batch_identifier=suite.meta["table"])
        context.validation_results_store.set(key, result)
    context.build_data_docs(site_names=[SITE])
    index = directory / "index.html"
    pages = {p.parts[-4]: str(p.relative_to(directory)) for p in (directory / "validations").glob("*/*/*/*.html")}
    page = index.read_text()
    body = page.index(">", page.index("<body")) + 1
    index.write_text(page[:body] + offline_summary(validation, pages) + page[body:])
    return index


def write_quality(validation: Validation, release: Path) -> dict:
    """Write `validation` under `release`/quality; return its summary with the paths, for the manifest."""
    quality = release / QUALITY_DIR
    for suite in validation.suites:
        write_json(quality / "expectations" / f"{suite.name}.json", suite.to_json_dict())
    write_json(release / RESULTS_FILE, validation.as_json())
    build_data_docs(validation, quality / "docs")
    return validation.summary() | {"results": RESULTS_FILE, "data_docs": DOCS_INDEX}
