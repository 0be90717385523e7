"""Any encode from a synthetic store says so in its attrs, not only the demo's."""

from __future__ import annotations

import numpy as np


def test_results_of_a_synthetic_store_carry_the_note(tmp_path, vit_weights_file):
    from berg_core import BERG
    from berg_core.workflows.synthetic import write_synthetic_store

    write_synthetic_store(tmp_path, models=["eeg-things_eeg_2-vit_b_32"], subjects=[1], seed=0,
                          options={"eeg-things_eeg_2-vit_b_32": {"n_components": 4}}, backbone=vit_weights_file)
    berg = BERG(tmp_path)
    model = berg.get_encoding_model("eeg-things_eeg_2-vit_b_32", subject=1, device="cpu", selection={"channels": ["Oz"]})
    out = berg.encode(model, np.zeros((1, 3, 32, 32), np.uint8), show_progress=False)
    from berg_core.workflows.synthetic import SYNTHETIC_NOTE

    assert out.attrs["synthetic_weights"] == SYNTHETIC_NOTE


def test_results_of_a_real_store_do_not(tmp_path, vit_weights_file):
    from berg_core import BERG
    from berg_core.workflows.synthetic import SYNTHETIC_MARKER, write_synthetic_store

    write_synthetic_store(tmp_path, models=["eeg-things_eeg_2-vit_b_32"], subjects=[1], seed=0,
                          options={"eeg-things_eeg_2-vit_b_32": {"n_components": 4}}, backbone=vit_weights_file)
    (tmp_path / SYNTHETIC_MARKER).unlink()
    berg = BERG(tmp_path)
    model = berg.get_encoding_model("eeg-things_eeg_2-vit_b_32", subject=1, device="cpu", selection={"channels": ["Oz"]})
    out = berg.encode(model, np.zeros((1, 3, 32, 32), np.uint8), show_progress=False)
    assert "synthetic_weights" not in out.attrs
