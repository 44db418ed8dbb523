"""The registry of datasets: every module of this package that exports `DATASET`.

Adding a dataset of the same kind is adding one module here (with its schemas and
its pipelines/<name>.yaml); the CLI's `build` sub-commands and the commands that
read releases find it through `datasets()`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from etl.pipeline.dataset import Dataset


@cache
def datasets() -> dict[str, Dataset]:
    """{name: Dataset}, in name order."""
    found = {}
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        dataset = getattr(importlib.import_module(f"{__name__}.{module}"), "DATASET", None)
        if isinstance(dataset, Dataset):
            found[dataset.name] = dataset
    return dict(sorted(found.items()))


class UnknownDatasetError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_dataset(name: str) -> Dataset:
    try:
        return datasets()[name]
    except KeyError:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(datasets())}") from None
