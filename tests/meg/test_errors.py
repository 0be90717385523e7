"""User errors are BERGErrors that say what was expected and what was given."""

from __future__ import annotations

import pytest

from berg_core.errors import InvalidParameterError

from .meg_reference import MODEL_ID


def test_bad_subject_lists_the_valid_ones(load):
    with pytest.raises(InvalidParameterError) as err:
        load(subject=5)
    assert "5" in str(err.value) and "[1, 2, 3, 4]" in str(err.value)


def test_subject_without_files(load):
    from berg_core.errors import StoreError

    with pytest.raises(StoreError):
        load(subject=3)  # a valid subject the session store does not hold


@pytest.mark.parametrize("value", ["both", "split1", 4])
def test_bad_train_splits(load, value):
    with pytest.raises(InvalidParameterError, match="train_splits"):
        load(train_splits=value)


def test_unknown_option(load):
    with pytest.raises(InvalidParameterError, match="colour"):
        load(colour="red")


def test_accuracy_kind(load):
    with load() as model, pytest.raises(InvalidParameterError, match="percent_noise_ceiling"):
        model.accuracy("r2")


def test_subject_2_has_no_split_models(load):
    from berg_core.errors import StoreError

    with pytest.raises(StoreError, match="training split 1"):
        load(subject=2, train_splits="single")
    with load(subject=2) as model:  # its all-splits model loads
        assert model.model_id == MODEL_ID
