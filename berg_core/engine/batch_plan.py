"""Which stimuli go into which batch: a plan fixed by the number of stimuli and the batch size alone.

A plain ``range(0, n, batch_size)`` loop leaves a short tail (40 images at batch size 32 run as
32 + 8, 100 as 32 + 32 + 32 + 4), and a small batch runs far below the machine's matrix-product
peak: the backbone's weights are streamed from memory for few rows of work. The plan keeps every
batch but the last two at ``batch_size`` and splits the last full batch and the tail into two
nearly equal halves (40 -> 20 + 20, 100 -> 32 + 32 + 18 + 18, 33 -> 17 + 16).

Why only the last two:

* batch boundaries stay on multiples of ``batch_size`` everywhere else, so the chunks of a Zarr
  result (one chunk per ``batch_size`` stimuli) are still written whole, batch by batch, but for
  the one chunk the two halves share;
* the number of batches is unchanged, and no batch is smaller than half the batch size unless
  all stimuli are fewer than that.

The plan depends on ``(n, batch_size)`` only, so a resumed run (whose result store records the
batch size) cuts the same batches as the run it continues, and a distributed run cuts its blocks
on the same boundaries as a local one: the values are the same bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import pairwise

__all__ = ["Batch", "batches_from", "plan_batches"]

#: ``(start, stop)`` of one batch, as stimulus offsets.
Batch = tuple[int, int]


def plan_batches(n: int, batch_size: int) -> list[Batch]:
    """The batches ``encode`` runs for ``n`` stimuli at ``batch_size``, in order.

    Parameters
    ----------
    n
        Number of stimuli (0 gives no batch).
    batch_size
        The largest batch.

    Returns
    -------
    list of (start, stop)
        Consecutive, covering ``0..n``; all of size ``batch_size`` except the last two, which
        share the rest as evenly as possible (the larger first).

    Examples
    --------
    >>> plan_batches(40, 32)
    [(0, 20), (20, 40)]
    >>> [b - a for a, b in plan_batches(100, 32)]
    [32, 32, 18, 18]
    """
    n, batch_size = int(n), int(batch_size)
    if n < 0 or batch_size < 1:
        raise ValueError(f"plan_batches needs n >= 0 and batch_size >= 1, got n={n}, batch_size={batch_size}")
    full, rest = divmod(n, batch_size)
    bounds = [i * batch_size for i in range(full + 1)]
    if rest:
        if full:
            # the last full batch and the tail become two halves, the larger first
            last = bounds[-2]
            bounds[-1] = last + (batch_size + rest + 1) // 2
        bounds.append(n)
    return list(pairwise(bounds))


def batches_from(plan: Sequence[Batch], skip: int = 0) -> Iterator[Batch]:
    """The batches of ``plan`` still to run when the first ``skip`` stimuli are done.

    A resumed run skips whole batches of the same plan; should ``skip`` fall inside a batch
    (a result written by another plan), the first batch runs from ``skip`` to that batch's end.
    """
    for a, b in plan:
        if b <= skip:
            continue
        yield (max(a, skip), b)
