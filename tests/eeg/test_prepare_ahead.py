"""An accelerator's run (inputs prepared in the decoding thread, read-outs written by a host thread while the next
batch's backbone is queued) gives the same bits as the CPU's, where everything runs in line."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

from berg_core.backbones.vit_readout import ViTB32Readout, vit_b_32_input
from berg_core.engine import encoding

STIMULI = np.random.default_rng(5).integers(0, 256, size=(5, 3, 200, 240), dtype=np.uint8)


@pytest.fixture
def prepared_in(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that prepared each batch's inputs."""
    threads: list[str] = []

    def recording(stimuli: Any, preprocessing: str | None, device: Any) -> torch.Tensor:
        threads.append(threading.current_thread().name)
        return vit_b_32_input(stimuli, preprocessing, device)

    monkeypatch.setattr(ViTB32Readout, "input_transform", staticmethod(recording))
    return threads


def test_the_cpu_prepares_in_line(load: Any, session_berg: Any, prepared_in: list[str]) -> None:
    session_berg.encode(load(), STIMULI, show_progress=False, batch_size=2)
    assert prepared_in == [threading.current_thread().name] * 3


def test_ahead_gives_the_same_bits_for_one_model_and_several(
    load: Any, session_berg: Any, prepared_in: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = load(subject=1), load(subject=2)
    read_out_in: list[str] = []
    check = encoding.check_batch_result

    def recording(*args: Any) -> Any:
        read_out_in.append(threading.current_thread().name)
        return check(*args)

    monkeypatch.setattr(encoding, "check_batch_result", recording)
    inline = session_berg.encode([one, two], STIMULI, show_progress=False, batch_size=2)
    assert set(read_out_in) == {threading.current_thread().name}
    prepared_in.clear()
    read_out_in.clear()
    monkeypatch.setattr(encoding, "_prepares_ahead", lambda model: True)
    ahead = session_berg.encode([one, two], STIMULI, show_progress=False, batch_size=2)
    # the two subjects share one preparation per batch, made by the decoding thread
    assert prepared_in == ["berg-prefetch"] * 3
    assert read_out_in == ["berg-host"] * 6
    for label, da in inline.items():
        np.testing.assert_array_equal(ahead[label].values, da.values)
    single = session_berg.encode(one, STIMULI, show_progress=False, batch_size=2)
    np.testing.assert_array_equal(single.values, next(iter(inline.values())).values)


def test_a_stimulus_refused_while_prepared_ahead_is_refused_as_in_line(
    load: Any, session_berg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(stimuli: Any, preprocessing: str | None, device: Any) -> torch.Tensor:
        raise ValueError("prepared badly")

    monkeypatch.setattr(ViTB32Readout, "input_transform", staticmethod(refuse))
    monkeypatch.setattr(encoding, "_prepares_ahead", lambda model: True)
    with pytest.raises(ValueError, match="prepared badly"):
        session_berg.encode(load(), STIMULI, show_progress=False, batch_size=2)


def test_only_accelerators_prepare_ahead(load: Any) -> None:
    model = load()
    assert not encoding._prepares_ahead(model)
    model.device = torch.device("cuda", 0)  # read, never used: nothing runs here
    assert encoding._prepares_ahead(model)
