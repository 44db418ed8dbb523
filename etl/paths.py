"""Where the repository-level resources (schemas/, pipelines/) and the bundled sample live.

lifeqa is installed in editable mode (`pip install -e .`), so `schemas/` and
`pipelines/` are read from the repository root next to the `etl` package.
`LIFEQA_HOME` points elsewhere when the package is used from another checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = PACKAGE_DIR / "sample"


def project_root() -> Path:
    root = Path(os.environ.get("LIFEQA_HOME", PACKAGE_DIR.parent))
    if not (root / "schemas").is_dir():
        raise FileNotFoundError(
            f"lifeqa resources not found under {root}: expected {root / 'schemas'} and "
            f"{root / 'pipelines'}. Install lifeqa in editable mode from its repository "
            "(pip install -e .) or set LIFEQA_HOME to the repository root."
        )
    return root


def schemas_dir() -> Path:
    return project_root() / "schemas"


def pipelines_dir() -> Path:
    return project_root() / "pipelines"
