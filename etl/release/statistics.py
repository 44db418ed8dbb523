"""The figures the card shows, as Spark aggregations over the gold table (nothing collected but the
aggregates): entities and QA rows per split, per field and per source; licences per source; length
distributions of the entities' sequences or SMILES and of the answers, binned by powers of two."""

from __future__ import annotations

# The column a row's source is read from: the depositor where rows carry one, else the source release.
SOURCE_COLUMNS = ("source_name", "source_release")


def length_bins(df, column: str, split_column: str = "split") -> dict:
    """{split: {bin: count}} of len(column), bin b holding lengths in [2**b, 2**(b+1)); with min, median, max."""
    from pyspark.sql import functions as F

    length = F.length(F.col(column))
    binned = (df.select(split_column, F.floor(F.log2(F.greatest(length, F.lit(1)))).cast("int").alias("bin"))
                .groupBy(split_column, "bin").count().collect())
    summary = df.groupBy(split_column).agg(F.min(length).alias("min"), F.max(length).alias("max"),
                                           F.percentile_approx(length, 0.5, 10_000).alias("median")).collect()
    bins: dict[str, dict[str, int]] = {}
    for row in sorted(binned, key=lambda r: (r[split_column], r["bin"])):
        bins.setdefault(row[split_column], {})[str(row["bin"])] = row["count"]
    return {"bins": bins, "summary": {row[split_column]: {k: row[k] for k in ("min", "median", "max")}
                                      for row in sorted(summary, key=lambda r: r[split_column])}}


def counts_by(df, entity: str, *columns: str) -> list[dict]:
    """Rows and distinct entities per value of `columns`, sorted."""
    from pyspark.sql import functions as F

    rows = df.groupBy(*columns).agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(entity).alias("entities"))
    return [row.asDict() for row in rows.orderBy(*columns).collect()]


def licences(gold, entity: str, source: str, license: str) -> list[dict]:
    """[{source, license, rows, entities}]: per source and licence URL where rows carry their own
    licence (PubChem depositors), else the whole release under the dataset's `license`."""
    from pyspark.sql import functions as F

    if "license_url" in gold.columns:
        counted = counts_by(gold.withColumn("license", F.coalesce("license_url", F.lit("no licence URL given"))),
                            entity, source, "license")
        return [{"source": row[source] or "unknown source", "license": row["license"], "rows": row["rows"],
                 "entities": row["entities"]} for row in counted]
    whole = gold.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct(entity).alias("entities")).first()
    return [{"source": "all rows", "license": license, "rows": whole["rows"], "entities": whole["entities"]}]


def release_statistics(gold, dataset, license: str) -> dict:
    """The card's figures for the gold DataFrame `gold` of `dataset` (released under `license`)."""
    entity = dataset.entity
    field = "field" if "field" in gold.columns else "question"
    source = next(c for c in SOURCE_COLUMNS if c in gold.columns)
    entities = gold.select("split", entity.id_column, entity.text_column).distinct()
    return {
        "entity": {"kind": entity.kind, "id_column": entity.id_column, "text_column": entity.text_column},
        "field_column": field,
        "source_column": source,
        "splits": counts_by(gold, entity.id_column, "split"),
        "fields": counts_by(gold, entity.id_column, "split", field),
        "sources": counts_by(gold, entity.id_column, "split", source),
        "licences": licences(gold, entity.id_column, source, license),
        "lengths": {"entity": length_bins(entities, entity.text_column), "answer": length_bins(gold, "answer")},
    }
