"""The card's pictures, drawn from the release statistics (etl/release/statistics.py), never from rows.

PNG bytes are stable: the Agg backend, matplotlib's bundled DejaVu Sans, a fixed size and dpi and no
`Software` metadata, so equal statistics draw equal files. The plots lie in `plots/`, outside the
card's data_files and outside content_sha256 (which is over the data rows only).
"""

from __future__ import annotations

from pathlib import Path

from etl.split import SPLITS

STYLE = {"font.family": "DejaVu Sans", "font.size": 9, "figure.dpi": 100, "savefig.dpi": 100,
         "path.simplify": False, "svg.hashsalt": "lifeqa"}
COLOURS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#55a868"}
PLOTS = {"lengths": "plots/lengths.png", "fields": "plots/fields.png"}


def save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})


def length_panel(axes, lengths: dict, title: str) -> None:
    """Bars per power-of-two length bin, one group per split, as shares of the split."""
    bins = sorted({int(b) for per_split in lengths["bins"].values() for b in per_split})
    width = 0.8 / len(SPLITS)
    for offset, split in enumerate(SPLITS):
        counts = lengths["bins"].get(split, {})
        total = sum(counts.values()) or 1
        axes.bar([i + offset * width for i in range(len(bins))], [counts.get(str(b), 0) / total for b in bins],
                 width=width, color=COLOURS[split], label=f"{split} ({sum(counts.values())})")
    axes.set_xticks([i + width for i in range(len(bins))], [f"{2 ** b}-{2 ** (b + 1) - 1}" for b in bins],
                    rotation=45, ha="right")
    axes.set_title(title)
    axes.set_ylabel("share of the split")
    axes.legend(frameon=False)


def draw_plots(statistics: dict, release: Path) -> dict[str, str]:
    """Draw the release's plots under `release`; return {name: path relative to the release}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entity = statistics["entity"]
    with plt.rc_context(STYLE):
        figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
        length_panel(left, statistics["lengths"]["entity"], f"{entity['text_column']} length ({entity['kind']}s)")
        length_panel(right, statistics["lengths"]["answer"], "answer length (characters, QA rows)")
        save(figure, release / PLOTS["lengths"])
        plt.close(figure)

        fields = sorted({row[statistics["field_column"]] for row in statistics["fields"]})
        figure, axes = plt.subplots(figsize=(10, 0.5 + 0.45 * max(len(fields), 1)), layout="constrained")
        left_edge = [0] * len(fields)
        for split in SPLITS:
            rows = {r[statistics["field_column"]]: r["rows"] for r in statistics["fields"] if r["split"] == split}
            widths = [rows.get(f, 0) for f in fields]
            axes.barh(fields, widths, left=left_edge, color=COLOURS[split], label=split)
            left_edge = [a + b for a, b in zip(left_edge, widths)]
        axes.set_xlabel("QA rows")
        axes.set_title(f"QA rows per {statistics['field_column']} and split")
        axes.legend(frameon=False)
        save(figure, release / PLOTS["fields"])
        plt.close(figure)
    return dict(PLOTS)
