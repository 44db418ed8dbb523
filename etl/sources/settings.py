"""Settings of a pull: politeness (rate limits, contact), persistence (attempts, backoff) and paging.

Defaults follow the services' published policies: PubChem allows at most 5 requests per
second and 400 per minute; UniProt publishes no hard limit, so lifeqa stays at a modest
rate that can be raised with `uniprot_limits`. The contact e-mail goes into the
User-Agent so that an operator who sees unusual traffic can reach whoever runs the pull.
Page and batch sizes are not settings but part of a pull's query (`UniProtQuery`,
`PubChemQuery`), because they shape the snapshot's files and so its identity.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, PositiveFloat, PositiveInt

UNIPROT_BASE_URL = "https://rest.uniprot.org"
PUBCHEM_BASE_URL = "https://pubchem.ncbi.nlm.nih.gov"
PUBCHEM_BULK_SMILES_URL = "https://ftp.ncbi.nlm.nih.gov/pubchem/Compound/Extras/CID-SMILES.gz"


class RateLimit(BaseModel):
    """At most `requests` requests in any window of `per_seconds` seconds."""

    requests: PositiveInt
    per_seconds: PositiveFloat

    def __str__(self) -> str:
        return f"{self.requests}/{self.per_seconds:g}s"


def _contact_from_env() -> str:
    return os.environ.get("LIFEQA_CONTACT", "")


class PullSettings(BaseModel):
    contact: str = Field(default_factory=_contact_from_env, description="e-mail named in the User-Agent")
    attempts: PositiveInt = Field(5, description="tries per request before the pull stops")
    backoff_base_s: PositiveFloat = Field(1.0, description="first retry waits up to this long, doubling after")
    backoff_cap_s: PositiveFloat = Field(60.0, description="no backoff wait is longer than this")
    max_retry_after_s: PositiveFloat = Field(
        600.0, description="a Retry-After longer than this stops the pull instead of waiting"
    )
    connect_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = Field(120.0, description="longest silence while reading a response")
    uniprot_limits: list[RateLimit] = Field(default_factory=lambda: [RateLimit(requests=10, per_seconds=1)])
    pubchem_limits: list[RateLimit] = Field(
        default_factory=lambda: [RateLimit(requests=5, per_seconds=1), RateLimit(requests=400, per_seconds=60)]
    )
