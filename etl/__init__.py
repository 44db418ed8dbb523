"""lifeqa: rebuild molecule-text and protein-text QA datasets (PubChemQA, UniProtQA)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lifeqa")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
