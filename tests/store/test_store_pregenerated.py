"""Pre-generated responses: written by the Zarr sink into the store, opened lazily."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.array
import numpy as np
import pytest
import xarray as xr

from berg_core import BERG, InvalidParameterError
from berg_core.results.zarr_sink import ZarrResultSink, request_of
from berg_core.workflows.pregenerated import pregenerated_path, pregenerated_url

from .conftest import EEG, s3_options, upload, vit_options

EEG_DIR = "encoding_models/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32"


@pytest.fixture(scope="module")
def pregenerated(
    legacy_root: Path, tmp_path_factory: pytest.TempPathFactory, vit_weights_file: Path, features: Any, shared_backbone: Any
) -> tuple[Path, xr.DataArray]:
    """A store with the EEG model and its responses to the image set 'seeded', and those responses.

    The responses are read out from seeded features (no backbone pass) and written by the
    result sink that ``encode(..., store=...)`` uses, batch by batch.
    """
    root = tmp_path_factory.mktemp("pregen_store")
    shutil.copytree(legacy_root / EEG_DIR, root / EEG_DIR)
    berg = BERG(str(root))
    card = berg.get_card(EEG)
    with berg.get_encoding_model(EEG, subject=1, **vit_options(vit_weights_file)) as model:
        ids = [f"image_{i}.png" for i in range(4)]
        batches = [model.encode_features(features, ids[:2]), model.encode_features(features.flip(1), ids[2:])]
        sink = ZarrResultSink(pregenerated_url(str(root), card, "seeded", 1), None, request_of(model, 4), chunk_stimuli=2)
        assert sink.prepare(ids) == 0
        sink.begin(batches[0], ids)
        for start, batch in zip((0, 2), batches, strict=True):
            sink.write(start, batch)
        sink.finish()
    expected = xr.concat(batches, dim="stimulus")
    return root, expected


def test_layout_path() -> None:
    card = BERG().get_card(EEG)
    assert pregenerated_path(card, "things_test", 3) == (
        "pregenerated_insilico_neural_responses/modality-eeg/train_dataset-things_eeg_2/model-vit_b_32/"
        "imageset-things_test/responses_subject-03.zarr"
    )
    with pytest.raises(InvalidParameterError, match="imageset must be a name"):
        pregenerated_path(card, "../up", 1)


def test_loads_lazily_with_the_labels_of_encode(pregenerated: tuple[Path, xr.DataArray]) -> None:
    root, expected = pregenerated
    got = BERG(str(root)).load_insilico_neural_responses(EEG, "seeded", subject=1)
    assert isinstance(got.data, dask.array.Array)
    xr.testing.assert_identical(got.compute(), expected)


@pytest.mark.parametrize(
    "selection, indexers",
    [
        ({"channels": ["O2", "Fp1"]}, {"channel": ["O2", "Fp1"]}),
        ({"channel": "Oz"}, {"channel": ["Oz"]}),
        ({"time": slice(0.0, 0.1)}, {"time": slice(0.0, 0.1)}),
        ({"repetition": [2]}, {"repetition": [2]}),
    ],
)
def test_selection_by_label(pregenerated: tuple[Path, xr.DataArray], selection: dict[str, Any], indexers: dict[str, Any]) -> None:
    root, expected = pregenerated
    got = BERG(str(root)).load_insilico_neural_responses(EEG, "seeded", subject=1, selection=selection)
    assert isinstance(got.data, dask.array.Array)
    xr.testing.assert_identical(got.compute(), expected.sel(indexers))


def test_mask_selection(pregenerated: tuple[Path, xr.DataArray]) -> None:
    root, expected = pregenerated
    mask = np.zeros(140, dtype=bool)
    mask[10:20] = True
    got = BERG(str(root)).load_insilico_neural_responses(EEG, "seeded", subject=1, selection={"timepoints": mask})
    xr.testing.assert_identical(got.compute(), expected.isel(time=np.flatnonzero(mask)))


def test_from_s3_nothing_is_read_until_asked(s3: Any, pregenerated: tuple[Path, xr.DataArray]) -> None:
    root, expected = pregenerated
    url = upload(s3, root, "pregen")
    berg = BERG(url, storage_options=s3_options(s3))
    s3.reset_log()
    got = berg.load_insilico_neural_responses(EEG, "seeded", subject=1, selection={"channels": ["Oz"]})
    data_chunks = "responses_subject-01.zarr/eeg/c/"
    assert s3.bytes_sent(data_chunks) == 0  # labels only so far
    values = got.values
    np.testing.assert_array_equal(values, expected.sel(channel=["Oz"]).values)
    assert s3.bytes_sent(data_chunks) > 0


def test_errors_list_what_there_is(pregenerated: tuple[Path, xr.DataArray]) -> None:
    root, _ = pregenerated
    berg = BERG(str(root))
    with pytest.raises(InvalidParameterError, match=r"image sets there: \['seeded'\]"):
        berg.load_insilico_neural_responses(EEG, "other", subject=1)
    with pytest.raises(InvalidParameterError, match="valid subjects"):
        berg.load_insilico_neural_responses(EEG, "seeded", subject=99)
    with pytest.raises(InvalidParameterError, match=r"select by one of \['channel', 'repetition', 'time'\]"):
        berg.load_insilico_neural_responses(EEG, "seeded", subject=1, selection={"roi": "V1"})
    with pytest.raises(InvalidParameterError, match=r"unknown channel 'XX' for eeg-things_eeg_2-vit_b_32\. Valid channels: \['Fp1'"):
        berg.load_insilico_neural_responses(EEG, "seeded", subject=1, selection={"channels": ["Oz", "XX"]})
