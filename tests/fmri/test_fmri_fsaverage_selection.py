"""Vertex selections of the fsaverage model: every accepted form and every refused one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from berg_fmri_nsd.fsaverage_selection import parse_vertices, resolve_vertex_selection

from berg_core.errors import IntegrityError, InvalidParameterError

N = 163_842


def _meta() -> dict[str, Any]:
    rois = {"V1v": np.array([4, 9]), "V1d": np.array([1, 9, 20]), "FFA-1": np.array([], dtype=np.int64)}
    return {"fmri": {"lh_fsaverage_rois": rois, "rh_fsaverage_rois": {**rois, "FFA-1": np.array([7])}}}


def test_boolean_and_integer_masks_give_sorted_indices() -> None:
    mask = np.zeros(N, dtype=bool)
    mask[[10, 3, 163_841]] = True
    np.testing.assert_array_equal(parse_vertices(mask, "lh_vertices"), [3, 10, 163_841])
    np.testing.assert_array_equal(parse_vertices(mask.astype(np.int8), "lh_vertices"), [3, 10, 163_841])
    np.testing.assert_array_equal(parse_vertices(mask.astype(np.float32), "lh_vertices"), [3, 10, 163_841])


def test_index_arrays_are_sorted_and_empty_means_none() -> None:
    np.testing.assert_array_equal(parse_vertices([30, 2, 7], "rh_vertices"), [2, 7, 30])
    assert parse_vertices([], "rh_vertices").size == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.ones(100, dtype=bool), r"selection\['lh_vertices'\] as a binary mask must have 163,842 entries \(one per vertex\), got 100"),
        (np.zeros(N, dtype=np.int64), r"selection\['lh_vertices'\] is an all-zero mask.*pass an empty list \(selection\['lh_vertices'\] = \[\]\), to keep every vertex omit the key"),
        (np.full(N, 2), r"selection\['lh_vertices'\] as a binary mask must hold only 0/1 \(or True/False\), but entry 0 is 2; to select vertices by index, pass fewer indices"),
        ([5, 163_842], r"selection\['lh_vertices'\] holds vertex index 163842, outside 0-163841"),
        ([-1, 4], r"holds vertex index -1, outside 0-163841"),
        ([4, 4], r"selection\['lh_vertices'\] repeats vertex index 4; list each vertex once"),
        ([0.5, 2.0], r"has 2 float values; a mask must have exactly 163,842 entries and vertex indices must be integers"),
        (np.zeros((2, 3), dtype=int), r"must be one-dimensional .* got shape \(2, 3\)"),
        ("V1", r"selection\['lh_vertices'\] must be a binary mask of 163,842 entries or an array of vertex indices.*got str 'V1'"),
        (["a", "b"], r"has dtype <U1; expected a binary mask"),
        (None, r"got NoneType None"),
    ],
)
def test_bad_vertices(value: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        parse_vertices(value, "lh_vertices")


def test_roi_union_and_v1_alias() -> None:
    sel = resolve_vertex_selection({"roi": "V1"}, _meta())
    np.testing.assert_array_equal(sel.lh, [1, 4, 9, 20])
    sel = resolve_vertex_selection({"roi": ["FFA-1", "V1v"]}, _meta())
    np.testing.assert_array_equal(sel.lh, [4, 9])
    np.testing.assert_array_equal(sel.rh, [4, 7, 9])
    assert sel.description == {"roi": ["FFA-1", "V1v"]}


def test_roi_none_with_vertices_behaves_as_bergs_absent_roi() -> None:
    sel = resolve_vertex_selection({"roi": None, "rh_vertices": [3]})
    assert sel.lh.size == N and list(sel.rh) == [3]
    assert sel.description == {"lh_vertices": f"{N} of {N} vertices", "rh_vertices": f"1 of {N} vertices"}


def test_whole_brain_without_selection() -> None:
    for selection in (None, {}):
        assert resolve_vertex_selection(selection).is_whole_brain


def test_roi_without_vertices_is_refused() -> None:
    meta = _meta()
    meta["fmri"]["rh_fsaverage_rois"]["FFA-1"] = np.array([], dtype=np.int64)
    with pytest.raises(InvalidParameterError, match=r"ROI \['FFA-1'\] has no vertices in this subject's metadata"):
        resolve_vertex_selection({"roi": "FFA-1"}, meta)


def test_metadata_without_the_roi_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError, match=r"meta.npy: fmri/lh_fsaverage_rois has no ROI 'hV4'"):
        resolve_vertex_selection({"roi": "hV4"}, _meta(), "meta.npy")
    meta = _meta()
    meta["fmri"]["lh_fsaverage_rois"]["V1v"] = np.array([N + 5])
    with pytest.raises(IntegrityError, match=r"should be vertex indices in 0-163841"):
        resolve_vertex_selection({"roi": "V1v"}, meta, "meta.npy")
