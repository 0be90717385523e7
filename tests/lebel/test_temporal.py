"""The temporal steps against their definitions: the TR grid, the 3-lobe Lanczos kernel without normalisation,
the population z-score with its 1e-10 floor, and the delay blocks (HuthLab make_delayed)."""

from __future__ import annotations

import math

import numpy as np
from berg_fmri_lebel.temporal import delayed, lanczos_kernel, lanczos_matrix, tr_times, zscore


def test_the_tr_grid_runs_from_the_first_onset_to_four_trs_past_the_last() -> None:
    np.testing.assert_array_equal(tr_times(np.array([1.5, 2.0, 9.0])), 1.5 + 2.0 * np.arange(8))  # ceil(15.5 / 2)
    np.testing.assert_array_equal(tr_times(np.array([3.0])), [3.0, 5.0, 7.0, 9.0])
    assert tr_times(np.array([0.0, 2.0])).size == 5


def test_the_lanczos_kernel_is_windowed_sinc_and_not_normalised() -> None:
    x = np.array([0.0, 1e-12, 0.5, 1.0, 2.5, -2.999, 3.0, 4.0])
    want = [1.0, 1.0]
    for v in x[2:]:
        want.append(0.0 if abs(v) >= 3 else 3 * math.sin(math.pi * v) * math.sin(math.pi * v / 3) / (math.pi * v) ** 2)
    np.testing.assert_allclose(lanczos_kernel(x), want, rtol=1e-12, atol=1e-15)
    m = lanczos_matrix(np.array([0.0, 2.0, 4.0]), np.array([0.0, 0.9, 1.0, 5.9, 6.0]))
    assert m.shape == (3, 5) and m[0, 0] == 1.0
    assert m[0, 3] != 0.0 and m[0, 4] == 0.0  # 5.9 s is 2.95 TRs away: inside the 3 lobes; 6 s is not
    np.testing.assert_allclose(m[0, 1], lanczos_kernel(np.array([-0.45]))[0])
    assert not np.allclose(m.sum(axis=1), 1.0)  # no division by the kernel's sum


def test_zscore_uses_the_population_std_and_leaves_constant_features() -> None:
    x = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 1e-12], [4.0, 5.0, 0.0]])
    z = zscore(x)
    np.testing.assert_allclose(z[:, 0], (x[:, 0] - x[:, 0].mean()) / x[:, 0].std(ddof=0))
    np.testing.assert_array_equal(z[:, 1], 0.0)  # std 0 -> 1: centred only
    np.testing.assert_allclose(z[:, 2], x[:, 2] - x[:, 2].mean())  # std below 1e-10 -> 1


def test_delays_shift_blocks_down_in_delay_order() -> None:
    x = np.arange(12.0).reshape(6, 2) + 1
    d = delayed(x)
    assert d.shape == (6, 8)
    for i, k in enumerate((1, 2, 3, 4)):
        block = d[:, 2 * i : 2 * i + 2]
        assert not block[:k].any()
        np.testing.assert_array_equal(block[k:], x[: 6 - k])
    assert not delayed(x[:2])[:, 2:].any()  # delays past the story's end: zeros
