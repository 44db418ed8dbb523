"""Packing chunks into batches by a token budget, largest first.

Sorting by size keeps the padding in a batch small; going largest first means a budget that does not
fit on the device fails on the first batch rather than hours in, and the progress bar's time left is
pessimistic rather than optimistic.
"""

from __future__ import annotations

from etl.embed.encoder import Chunk


def plan_batches(chunks: list[Chunk], max_tokens: int, padded: bool) -> list[list[Chunk]]:
    """Batches whose cost stays within max_tokens (a chunk larger than the budget gets a batch of its own).

    A padded batch costs longest x count (the tensor the encoder runs on); an unpadded one, such as a
    union of molecule graphs, costs the sum of its chunks' sizes.
    """
    batches: list[list[Chunk]] = []
    batch: list[Chunk] = []
    cost = 0
    for chunk in sorted(chunks, key=lambda c: (-c.size, c.key, c.index)):
        # Descending order: the batch's first chunk is its longest.
        grown = batch[0].size * (len(batch) + 1) if padded and batch else cost + chunk.size
        if batch and grown > max_tokens:
            batches.append(batch)
            batch, cost = [], 0
            grown = chunk.size
        batch.append(chunk)
        cost = grown
    if batch:
        batches.append(batch)
    return batches
