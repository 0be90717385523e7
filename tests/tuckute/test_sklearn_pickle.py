"""Pickled sklearn estimators are read as data, never run; berg writes sklearn's own format without sklearn."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from berg_core.errors import IntegrityError
from berg_core.plugin import SklearnEstimator, dump_sklearn_pickle, load_sklearn_pickle


def test_a_real_ridgecv_pickle_reads_as_its_attributes() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    clf = linear_model.RidgeCV(alphas=[10**x for x in range(-30, 30)], alpha_per_target=True)
    clf.fit(rng.normal(size=(30, 5)), rng.normal(size=(30, 3)))
    for protocol in (2, 4, 5):
        data = load_sklearn_pickle(io.BytesIO(pickle.dumps({"clf": clf, "X_scaler": None}, protocol=protocol)), "w.pkl")
        got = data["clf"]
        assert isinstance(got, SklearnEstimator) and got.name == "RidgeCV" and data["X_scaler"] is None
        np.testing.assert_array_equal(got.state["coef_"], clf.coef_)
        np.testing.assert_array_equal(got.state["alpha_"], clf.alpha_)
        assert got.state["alphas"] == [10**x for x in range(-30, 30)]


@pytest.mark.filterwarnings("ignore:Trying to unpickle estimator")
def test_the_written_pickle_is_a_working_sklearn_ridgecv() -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    state = {"alphas": [0.1, 1, 10], "fit_intercept": True, "scoring": None, "cv": None, "gcv_mode": None,
             "store_cv_results": False, "alpha_per_target": True, "n_features_in_": 4, "alpha_": np.ones(2),
             "best_score_": np.zeros(2), "coef_": rng.normal(size=(2, 4)), "intercept_": rng.normal(size=2),
             "_sklearn_version": "1.2.2"}
    blob = dump_sklearn_pickle({"clf": SklearnEstimator("sklearn.linear_model._ridge", "RidgeCV", state)})
    clf = pickle.loads(blob)["clf"]  # sklearn itself reads it
    assert isinstance(clf, linear_model.RidgeCV)
    x = rng.normal(size=(3, 4))
    np.testing.assert_allclose(clf.predict(x), x @ state["coef_"].T + state["intercept_"])
    again = load_sklearn_pickle(io.BytesIO(blob), "w.pkl")["clf"]
    np.testing.assert_array_equal(again.state["coef_"], state["coef_"])


class _Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    "payload",
    [
        {"clf": _Boom()},
        {"clf": SklearnEstimator("sklearn.svm._classes", "SVC", {"coef_": np.ones(2)})},  # not an allowed class
    ],
    ids=["os.system", "other-estimator"],
)
def test_anything_else_is_refused_unrun(payload: dict) -> None:
    blob = dump_sklearn_pickle(payload) if isinstance(payload["clf"], SklearnEstimator) else pickle.dumps(payload)
    with pytest.raises(IntegrityError, match=r"w\.pkl is unsafe: its pickle asks for (posix|os|nt)\.system|w\.pkl is unsafe: its pickle asks for sklearn\.svm"):
        load_sklearn_pickle(io.BytesIO(blob), "w.pkl")


def test_a_damaged_pickle_is_an_integrity_error() -> None:
    blob = dump_sklearn_pickle({"clf": SklearnEstimator("sklearn.linear_model._ridge", "RidgeCV", {"coef_": np.ones((2, 3))})})
    with pytest.raises(IntegrityError, match="w.pkl"):
        load_sklearn_pickle(io.BytesIO(blob[: len(blob) // 2]), "w.pkl")
