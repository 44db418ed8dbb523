"""Data quality: rejects accounting and validation suites."""
