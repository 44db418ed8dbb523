"""Where the resource folders (schemas/, pipelines/) and the bundled sample live.

`schemas/` and `pipelines/` sit at the top of the repository; the wheel carries
them inside the package as `etl/schemas` and `etl/pipelines` (pyproject.toml maps
them there). Each folder is looked for, first match wins:

1. `$LIFEQA_HOME/<name>` when `LIFEQA_HOME` is set: a checkout whose schemas and
   pipelines should be used instead of the installed ones. Set, it is the only
   place looked at, so that a wrong value fails loudly instead of silently
   falling back to the installed copies.
2. `<package>/<name>`: an installed wheel (`pip install .`).
3. `<package>/../<name>`: the repository root of an editable checkout
   (`pip install -e .`), where the package directory is the source tree's `etl/`.

The sample (`etl/sample/`) and `etl/resources/` are package data in both cases.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = PACKAGE_DIR / "sample"


def _resource_dir(name: str) -> Path:
    home = os.environ.get("LIFEQA_HOME")
    candidates = [Path(home) / name] if home else [PACKAGE_DIR / name, PACKAGE_DIR.parent / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    where = "LIFEQA_HOME is set, so only there" if home else "installed package, then repository checkout"
    raise FileNotFoundError(
        f"lifeqa's {name}/ folder not found; looked for {', '.join(map(str, candidates))} ({where}). "
        "Install lifeqa with `pip install .` (or `pip install -e .` from its repository), "
        "or set LIFEQA_HOME to a directory holding schemas/ and pipelines/."
    )


def schemas_dir() -> Path:
    return _resource_dir("schemas")


def pipelines_dir() -> Path:
    return _resource_dir("pipelines")
