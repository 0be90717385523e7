"""Every mistake a user can make raises a BERGError saying what was expected and what was given."""

from __future__ import annotations

import numpy as np
import pytest

from berg_core.errors import InvalidParameterError, ModelLoadError, StimulusError, StoreError

from .eeg_reference import MODEL_ID


def test_unknown_option_lists_the_accepted_ones(load):
    with pytest.raises(
        InvalidParameterError, match=r"unknown option\(s\) \['colour'\] for eeg-things_eeg_2-vit_b_32.get_encoding_model; accepted: \['backbone_weights', 'preprocessing'\]"
    ):
        load(colour="red")


@pytest.mark.parametrize("value", ["imagenet", "Train"])
def test_unknown_preprocessing_lists_the_modes(load, value):
    with pytest.raises(InvalidParameterError, match=rf"preprocessing='{value}'.*\['berg-2.0', 'train'\]"):
        load(preprocessing=value)


def test_preprocessing_of_the_wrong_type(load):
    with pytest.raises(InvalidParameterError, match="preprocessing must be a string.*got int 3"):
        load(preprocessing=3)


def test_backbone_weights_of_the_wrong_type(load):
    with pytest.raises(
        InvalidParameterError, match=r"backbone_weights must be a file path \(str or os.PathLike\), got int 5"
    ):
        load(backbone_weights=5)


def test_backbone_weights_path_that_is_not_a_file(load, tmp_path):
    with pytest.raises(ModelLoadError, match="is not a file; expected the path of vit_b_32-d86f8d99.pth"):
        load(backbone_weights=str(tmp_path / "nope.pth"))


def test_no_backbone_weights_anywhere(session_berg, empty_torch_home):
    with pytest.raises(ModelLoadError, match=r"ViT-B/32 backbone weights were not found.*backbone_weights="):
        session_berg.get_encoding_model(MODEL_ID, subject=1, device="cpu")


@pytest.mark.parametrize("subject", [0, 11, "one", 1.5])
def test_invalid_subject_lists_the_valid_ones(load, subject):
    with pytest.raises(InvalidParameterError, match=r"\[1, 2, 3, 4, 5, 6, 7, 8, 9, 10\]"):
        load(subject=subject)


def test_subject_missing_from_the_store(load):
    with pytest.raises(StoreError, match="metadata_subject-03.npy"):
        load(subject=3)


@pytest.mark.parametrize(
    ("selection", "pattern"),
    [
        ({"roi": "V1"}, r"unknown selection key\(s\) \['roi'\] for eeg-things_eeg_2-vit_b_32; accepted: \['channels', 'timepoints'\]"),
        ({"channels": ["Oz", "XY1"]}, r"unknown channel 'XY1' for eeg-things_eeg_2-vit_b_32\. Valid channels: \['Fp1', 'F3'.*'AF8'\]$"),
        ({"channels": ["oz"]}, r"unknown channel 'oz' .*\. Did you mean 'Oz'\? Valid channels"),
        ({"channels": ["Oz", "Cz", "Oz"]}, r"lists \['Oz'\] more than once"),
        ({"channels": []}, r"selection\['channels'\] is an empty list; expected a channel name or a list of names from \['Fp1'"),
        ({"channels": [15]}, r"must hold channel names \(strings\), got int 15; valid channels: \['Fp1'"),
        ({"channels": 15}, r"must be a channel name or a list of names, got int 15"),
        ({"timepoints": np.ones(139, dtype=int)}, r"selection\['timepoints'\] as a binary mask must have 140 entries \(one per time point\), got 139"),
        ({"timepoints": np.zeros(140, dtype=int)}, r"selection\['timepoints'\] is an all-zero mask, which selects no time point"),
        ({"timepoints": np.full(140, 2)}, r"as a binary mask must hold only 0/1 \(or True/False\), but entry 0 is 2"),
        ({"timepoints": [0, 1, 2]}, r"binary mask must have 140 entries.*got 3; for time points in seconds pass floats"),
        (
            {"timepoints": [0.1, 0.1023]},
            r"\[0.1023\] s are not time points of the model; available time points: -0.100 to 0.595 s in steps of 0.005 s",
        ),
        ({"timepoints": [0.7]}, r"\[0.7\] s are not time points"),
        ({"timepoints": [float("nan")]}, r"\[nan\] s are not time points"),
        ({"timepoints": [0.1, 0.10001]}, r"asks for \[0.1\] s more than once"),
        ({"timepoints": slice(0.1, 0.2, 0.01)}, r"slice must not have a step"),
        ({"timepoints": slice("a", 0.2)}, r"slice start must be a number in seconds or None, got 'a'"),
        (
            {"timepoints": slice(0.7, 0.9)},
            r"slice\(0.7, 0.9\) selects no time point; available time points: -0.100 to 0.595 s",
        ),
        ({"timepoints": "0.1"}, r"binary mask of length 140, time points in seconds.*got str '0.1'"),
        ({"timepoints": [[0.1]]}, r"must be one-dimensional.*got shape \(1, 1\)"),
        ({"timepoints": []}, r"selection\['timepoints'\] is empty"),
        ({"timepoints": ["a"]}, r"must hold numbers"),
        ({"timepoints": True}, r"got bool True"),
    ],
)
def test_bad_selection(load, selection, pattern):
    with pytest.raises(InvalidParameterError, match=pattern):
        load(selection=selection)


def test_selection_that_is_not_a_dict(load):
    with pytest.raises(InvalidParameterError, match="selection must be a dict"):
        load(selection=["Oz"])


def test_bad_stimuli(load, session_berg):
    with load() as model:
        with pytest.raises(StimulusError, match="3 colour channels"):
            session_berg.encode(model, np.zeros((1, 224, 224, 3), dtype=np.uint8), show_progress=False)
        with pytest.raises(StimulusError, match="integer images must lie in 0-255"):
            session_berg.encode(model, np.full((1, 3, 8, 8), 300, dtype=np.int64), show_progress=False)


def test_bad_encode_option_and_batch_size(load, session_berg, images):
    with load() as model:
        with pytest.raises(InvalidParameterError, match=r"unknown encode option\(s\) \['average'\]"):
            session_berg.encode(model, images, average=True, show_progress=False)
        with pytest.raises(InvalidParameterError, match="batch_size must be a positive integer"):
            session_berg.encode(model, images, batch_size=0, show_progress=False)


def test_accuracy_kind(load):
    with load() as model, pytest.raises(InvalidParameterError, match="kind must be 'averaged' or 'single', got 'mean'"):
        model.accuracy("mean")


def test_metadata_options(session_berg):
    with pytest.raises(InvalidParameterError, match=r"unknown option\(s\) \['roi'\] for eeg-things_eeg_2-vit_b_32.get_model_metadata; accepted: none"):
        session_berg.get_model_metadata(MODEL_ID, subject=1, roi="V1")
    with pytest.raises(InvalidParameterError, match=r"valid subjects: \[1, 2"):
        session_berg.get_model_metadata(MODEL_ID, subject=12)
