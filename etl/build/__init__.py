"""Dataset builds: inputs -> Spark stages (bronze, silver, gold) -> release."""
