"""The fast paths of issue 16 keep behaviour: batch plans, the projection cache, the ViT-B/32 forward.

No timing here (benchmarks/ measures); these tests check what the fast paths must not change.
"""

from __future__ import annotations

import gc
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

EEG = "eeg-things_eeg_2-vit_b_32"


# ---- batch plan ---------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 31, 32, 33, 40, 63, 64, 65, 100, 1000])
@pytest.mark.parametrize("bs", [1, 2, 3, 8, 32])
def test_plan_covers_every_stimulus_once_with_no_short_tail(n: int, bs: int) -> None:
    from berg_core.engine.batch_plan import plan_batches

    plan = plan_batches(n, bs)
    assert plan == plan_batches(n, bs)  # fixed by (n, batch_size) alone
    stops = [0, *[b for _, b in plan]]
    assert plan == list(pairwise(stops)) and stops[-1] == n  # consecutive, covering 0..n
    sizes = [b - a for a, b in plan]
    assert len(plan) == -(-n // bs)  # as many batches as the plain loop
    assert all(1 <= s <= bs for s in sizes)
    # every batch but the last two is full: Zarr chunks of batch_size stimuli stay whole
    assert all(s == bs for s in sizes[:-2])
    assert all(a % bs == 0 for a, _ in plan[:-1])
    if n >= bs:
        assert min(sizes) >= bs // 2  # no tail below half a batch
        assert max(sizes[-2:]) - min(sizes[-2:]) <= 1


def test_plan_examples_of_the_issue() -> None:
    from berg_core.engine.batch_plan import plan_batches

    assert [b - a for a, b in plan_batches(40, 32)] == [20, 20]
    assert [b - a for a, b in plan_batches(100, 32)] == [32, 32, 18, 18]
    with pytest.raises(ValueError, match="batch_size >= 1"):
        plan_batches(5, 0)


def test_resume_skips_whole_batches_of_the_same_plan() -> None:
    from berg_core.engine.batch_plan import batches_from, plan_batches

    plan = plan_batches(100, 32)
    assert list(batches_from(plan, 0)) == plan
    assert list(batches_from(plan, 64)) == plan[2:]
    assert list(batches_from(plan, 70)) == [(70, 82), (82, 100)]  # inside a batch: its rest first
    assert list(batches_from(plan, 100)) == []


class _RecordingSink:
    """A memory sink that also records where each batch went."""

    def __init__(self) -> None:
        from berg_core.engine.encoding import MemorySink

        self.inner = MemorySink()
        self.writes: list[tuple[int, int]] = []

    def begin(self, template: Any, ids: list[Any]) -> None:
        self.inner.begin(template, ids)

    def write(self, start: int, batch: Any) -> None:
        self.writes.append((start, start + batch.shape[0]))
        self.inner.write(start, batch)

    def finish(self) -> Any:
        return self.inner.finish()


@pytest.fixture(scope="module")
def eeg_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from berg_core.plugin import write_synthetic_store

    root = tmp_path_factory.mktemp("perf_store")
    write_synthetic_store(root, models=[EEG], subjects=[1], seed=5, options={EEG: {"n_components": 6}}, backbone=False)
    return root


def _load(berg: Any, weights: Path, selection: dict[str, Any] | None = None) -> Any:
    return berg.get_encoding_model(EEG, subject=1, selection=selection, device="cpu", backbone_weights=str(weights))


def test_encode_runs_the_plan_and_equals_one_batch(eeg_store: Path, vit_weights_file: Path) -> None:
    from berg_core import BERG
    from berg_core.engine.encoding import run_encode_many
    from berg_core.stimuli.inputs import as_stimuli

    berg = BERG(eeg_store)
    model = _load(berg, vit_weights_file, {"channels": ["Fp1", "Oz"]})
    images = np.random.default_rng(1).integers(0, 256, (7, 3, 40, 50), dtype=np.uint8)
    sink = _RecordingSink()
    planned = run_encode_many(berg._pm, [model], as_stimuli(images), 4, False, [sink])[0]
    assert sink.writes == [(0, 4), (4, 7)]  # 4 + 3, the plan's halves of 4 + 3
    sink = _RecordingSink()
    run_encode_many(berg._pm, [model], as_stimuli(images), 3, False, [sink])
    assert sink.writes == [(0, 3), (3, 5), (5, 7)]  # 3 + 2 + 2, not 3 + 3 + 1
    whole = berg.encode(model, images, batch_size=7, show_progress=False)
    np.testing.assert_allclose(planned.values, whole.values, rtol=1e-5, atol=1e-5 * float(np.abs(whole.values).max()))
    model.cleanup()


# ---- the cache of loaded projections ------------------------------------------------------------
def test_models_of_one_subject_share_the_projection_until_the_last_cleanup(eeg_store: Path, vit_weights_file: Path) -> None:
    from berg_core import BERG
    from berg_core.models.folded_heads import cached_projections

    gc.collect()
    before = cached_projections()
    berg = BERG(eeg_store)
    a = _load(berg, vit_weights_file)
    b = _load(berg, vit_weights_file, {"channels": ["Oz"]})
    assert b.readout.projection is a.readout.projection  # shared, not read and folded again
    assert a.readout.heads[0].coef is not b.readout.heads[0].coef  # each selection keeps its own rows
    assert cached_projections() == before + 1
    images = np.random.default_rng(2).integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    ya = berg.encode(a, images, show_progress=False)
    yb = berg.encode(b, images, show_progress=False)
    np.testing.assert_array_equal(yb.values, ya.sel(channel=["Oz"]).values)
    a.cleanup()
    gc.collect()
    assert cached_projections() == before + 1  # b still uses it
    b.cleanup()
    gc.collect()
    assert cached_projections() == before  # the last cleanup frees it


def test_a_file_written_again_is_read_again(tmp_path: Path, vit_weights_file: Path) -> None:
    from berg_core import BERG
    from berg_core.plugin import write_synthetic_store

    def write(seed: int) -> None:
        write_synthetic_store(tmp_path, models=[EEG], subjects=[1], seed=seed, options={EEG: {"n_components": 6}},
                              backbone=False)

    write(1)
    first = _load(BERG(tmp_path), vit_weights_file)
    w1 = first.readout.projection.weight.clone()
    write(2)  # same path, other weights, while the first model still holds its projection
    second = _load(BERG(tmp_path), vit_weights_file)
    assert second.readout.projection is not first.readout.projection
    assert not torch.equal(second.readout.projection.weight, w1)
    first.cleanup()
    second.cleanup()


# ---- the ViT-B/32 forward -----------------------------------------------------------------------
def test_vit_forward_equals_torchvision_blocks(vit_weights_file: Path) -> None:
    """The written-out blocks against torchvision's own EncoderBlock modules, in float64 as the reference."""
    from berg_core.backbones.vit_b_32 import build_vit_b_32

    state = torch.load(vit_weights_file, map_location="cpu", weights_only=True)
    fast = build_vit_b_32(state)
    for name, p in fast.vit.named_parameters():
        assert torch.equal(p, state[name]), name  # the checkpoint's values, as they are
    ref = fast.vit.double()
    x = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        h = ref._process_input(x.double())
        h = torch.cat([ref.class_token.expand(3, -1, -1), h], dim=1) + ref.encoder.pos_embedding
        want = []
        for layer in ref.encoder.layers:
            h = layer(h)
            want.append(h.flatten(1))
        want_t = torch.cat(want, dim=1)
    fast = build_vit_b_32(state)
    got = fast(x)
    assert got.dtype == torch.float32 and got.shape == (3, 460800)
    torch.testing.assert_close(got.double(), want_t, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast(x[:1]), got[:1], rtol=1e-5, atol=1e-5)


# ---- the fast finiteness check of checkpoints ---------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_all_finite_finds_every_nan_and_infinity(dtype: torch.dtype) -> None:
    from berg_core.io.torch_checkpoint import all_finite

    t = torch.randn(64, 33).to(dtype)
    assert all_finite(t) and all_finite(t[:, ::2]) and all_finite(torch.empty(0, dtype=dtype))
    for bad in (float("nan"), float("inf"), float("-inf")):
        u = t.clone()
        u[17, 5] = bad
        assert not all_finite(u) and not all_finite(u.t())
    both = t.clone()
    both[0, 0], both[1, 1] = float("inf"), float("-inf")  # a sum of NaN, not of infinity
    assert not all_finite(both)
    big = torch.full((8,), torch.finfo(dtype).max, dtype=dtype)  # finite values whose sum overflows
    assert all_finite(big)
    assert all_finite(torch.arange(5))  # integers are always finite


# ---- device helpers off CUDA ---------------------------------------------------------------------
def test_cpu_batch_size_is_the_default_and_copies_are_plain() -> None:
    from berg_core.errors import InvalidParameterError
    from berg_core.models.device import batch_size_for, to_device

    assert batch_size_for("cpu", bytes_per_item=10**9, default=32) == 32
    with pytest.raises(InvalidParameterError, match="bytes_per_item > 0"):
        batch_size_for("cpu", bytes_per_item=0, default=32)
    x = torch.arange(6.0)
    assert to_device(x, "cpu") is x


# ---- the in-place fold against the float64 reference --------------------------------------------
def test_fold_in_place_equals_the_float64_math() -> None:
    from berg_core.errors import IntegrityError
    from berg_core.models.readout import fold_scaler_pca_rows

    rng = np.random.default_rng(0)
    k, n = 7, 5000
    comp, mean, scale, pca_mean = rng.standard_normal((k, n)), rng.standard_normal(n), rng.uniform(0.5, 2, n), rng.standard_normal(n)
    W, c = fold_scaler_pca_rows(mean, scale, pca_mean, (k, n), ((a, comp[a : a + 3]) for a in range(0, k, 3)))
    # the reference: the scaler then the PCA, in float64, rounded once
    np.testing.assert_array_equal(W, (comp / scale).astype(np.float32))
    np.testing.assert_allclose(c, -(comp @ (mean / scale + pca_mean)), rtol=1e-6)
    bad = comp.copy()
    bad[4, 10] = np.nan
    with pytest.raises(IntegrityError, match=r"pca components_ hold NaN or infinite values \(rows 3 to 5\)"):
        fold_scaler_pca_rows(mean, scale, pca_mean, (k, n), ((a, bad[a : a + 3]) for a in range(0, k, 3)))
