"""Stimuli as users have them (issue 13.6): nested folders, named stimuli, grey, 16-bit and ragged arrays.

Arrays follow the same conversion rules as files: a grey array decodes like a grey PNG of the
same pixels, a uint16 array like a 16-bit PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from berg_core import StimulusError
from berg_core.stimuli.inputs import as_stimuli

RNG = np.random.default_rng(13)


def _rgb(h: int = 6, w: int = 7) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def _tree(root: Path, names: list[str]) -> dict[str, np.ndarray]:
    pixels = {}
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        pixels[name] = _rgb()
        Image.fromarray(pixels[name]).save(root / name)
    return pixels


def _decode(stimulus: Any, **kw: Any) -> list[np.ndarray]:
    return [t.numpy() for t in as_stimuli(stimulus, **kw).tensors()]


# ---- folders with subfolders --------------------------------------------------------------------------

NESTED = ["top.png", "cats/b.png", "cats/a.jpg", "dogs/x/deep.png", "dogs/top.png"]


def test_a_folder_with_image_subfolders_is_refused_without_recursive(tmp_path: Path) -> None:
    _tree(tmp_path, NESTED)
    with pytest.raises(StimulusError, match=r"has subfolders holding images \('cats', 'dogs'\); pass recursive=True \(berg encode --recursive\)"):
        as_stimuli(tmp_path)
    only_nested = tmp_path / "dogs"
    with pytest.raises(StimulusError, match=r"dogs' has subfolders holding images \('x'\)"):
        as_stimuli(only_nested)


def test_recursive_reads_every_level_with_relative_paths_as_ids(tmp_path: Path) -> None:
    pixels = _tree(tmp_path, NESTED)
    st = as_stimuli(tmp_path, recursive=True)
    assert st.ids == sorted(NESTED)
    for name, img in zip(st.ids, st.tensors(), strict=True):
        if name.endswith(".png"):
            np.testing.assert_array_equal(img.numpy(), pixels[name].transpose(2, 0, 1))
    assert as_stimuli(str(tmp_path / "cats"), recursive=True).ids == ["a.jpg", "b.png"]


def test_subfolders_without_images_do_not_block_a_flat_read(tmp_path: Path) -> None:
    _tree(tmp_path, ["a.png", "b.png"])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not an image")
    (tmp_path / "empty").mkdir()
    assert as_stimuli(tmp_path).ids == ["a.png", "b.png"]
    assert as_stimuli(tmp_path, recursive=True).ids == ["a.png", "b.png"]


def test_a_symlink_loop_is_walked_once(tmp_path: Path) -> None:
    _tree(tmp_path, ["a.png", "sub/b.png"])
    (tmp_path / "sub" / "back").symlink_to(tmp_path, target_is_directory=True)
    assert as_stimuli(tmp_path, recursive=True).ids == ["a.png", "sub/b.png"]


def test_recursive_folders_without_images_and_bad_flags(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    with pytest.raises(StimulusError, match=r"or its subfolders holds no image files"):
        as_stimuli(tmp_path, recursive=True)
    with pytest.raises(StimulusError, match=r"recursive must be True or False, got str"):
        as_stimuli(tmp_path, recursive="yes")


# ---- stimulus_ids ---------------------------------------------------------------------------------------


def _pils(n: int) -> list[Any]:
    return [Image.fromarray(_rgb()) for _ in range(n)]


NAMED = {
    "array": lambda tmp: np.zeros((3, 3, 4, 4), np.uint8) + 1,
    "tensor": lambda tmp: torch.ones(3, 3, 4, 4),
    "list of arrays": lambda tmp: [np.zeros((3, 4, 5), np.uint8), np.zeros((3, 6, 2), np.uint8), np.zeros((4, 4), np.uint8)],
    "PIL images": lambda tmp: _pils(3),
    "files": lambda tmp: [tmp / n for n in _tree(tmp, ["c.png", "a.png", "b.png"])],
    "Zarr array": lambda tmp: _zarr(tmp, 3),
}


def _zarr(tmp: Path, n: int) -> Any:
    import zarr

    z = zarr.create_array(store=str(tmp / "z.zarr"), shape=(n, 3, 2, 2), dtype="uint8")
    z[:] = 9
    return z


@pytest.mark.parametrize("form", list(NAMED))
def test_stimulus_ids_name_the_stimuli_of_every_listed_form(tmp_path: Path, form: str) -> None:
    stimulus = NAMED[form](tmp_path)
    for ids in (["x", "y", "z"], [30, 10, 20], np.array([5, 6, 7]), ("p", "q", "r")):
        st = as_stimuli(stimulus, stimulus_ids=ids)
        assert st.ids == [int(i) if isinstance(i, (int, np.integer)) else i for i in ids]
        assert [b.ids for b in st.batches(2)] == [st.ids[:2], st.ids[2:]]
    assert as_stimuli(stimulus).ids != ["x", "y", "z"]  # the user's object is not relabelled


def test_a_single_pil_image_takes_one_id() -> None:
    assert as_stimuli(_pils(1)[0], stimulus_ids=["face"]).ids == ["face"]


BAD_IDS = [
    (["a", "b"], r"stimulus_ids has 2 ids for 3 stimuli"),
    (["a", "b", "c", "d"], r"stimulus_ids has more than 3 ids for 3 stimuli"),
    (["a", "b", "a"], r"stimulus_ids must be distinct: id 'a' is given for stimuli 0 and 2"),
    ([1, 2, 1], r"id 1 is given for stimuli 0 and 2"),
    (["a", 1, "c"], r"mixes strings and integers"),
    ([True, False, None], r"id 0 is bool"),
    ([1.5, 2.5, 3.5], r"id 0 is float"),
    ("abc", r"must be a list of 3 distinct strings or integers, got str"),
    (7, r"must be a list of 3 distinct strings or integers, got int"),
]


@pytest.mark.parametrize(("ids", "message"), BAD_IDS, ids=[m.split(" ")[-1] + str(i) for i, (_, m) in enumerate(BAD_IDS)])
def test_bad_stimulus_ids_are_refused_saying_why(ids: Any, message: str) -> None:
    with pytest.raises(StimulusError, match=message):
        as_stimuli(np.zeros((3, 3, 2, 2), np.uint8), stimulus_ids=ids)


def test_folders_and_patterns_keep_their_file_names(tmp_path: Path) -> None:
    _tree(tmp_path, ["a.png", "b.png"])
    for stimulus in (tmp_path, str(tmp_path / "*.png")):
        with pytest.raises(StimulusError, match=r"stimulus_ids cannot name the images of a (folder|glob).*pass a list of the files"):
            as_stimuli(stimulus, stimulus_ids=["x", "y"])


def test_encode_labels_the_result_with_the_given_ids(toy_store: Any) -> None:
    model = toy_store.get_encoding_model("toy-retina-luminance", subject=1, device="cpu")
    ragged = [RNG.integers(0, 256, (3, 6, 9), dtype=np.uint8), RNG.integers(0, 256, (5, 4), dtype=np.uint8)]
    out = toy_store.encode(model, ragged, stimulus_ids=["wide", "grey"], show_progress=False)
    assert list(out["stimulus"].values) == ["wide", "grey"]
    single = toy_store.encode(model, [ragged[1]], show_progress=False)
    # same image alone: same response, up to float32 batch effects
    np.testing.assert_allclose(out.sel(stimulus="grey").values, single.isel(stimulus=0).values, rtol=1e-5, atol=1e-5)


# ---- grey, 16-bit and ragged arrays, by the rules of files ----------------------------------------------


@pytest.mark.parametrize("layout", ["(N, H, W)", "(N, 1, H, W)"])
def test_grey_arrays_decode_like_grey_files(tmp_path: Path, layout: str) -> None:
    grey = RNG.integers(0, 256, size=(2, 5, 8), dtype=np.uint8)
    for i, g in enumerate(grey):
        Image.fromarray(g).save(tmp_path / f"g{i}.png")
    arr = grey if layout == "(N, H, W)" else grey[:, None]
    got = _decode(arr)
    files = _decode(tmp_path)
    assert [g.shape for g in got] == [(3, 5, 8)] * 2
    np.testing.assert_array_equal(np.stack(got), np.stack(files))


@pytest.mark.parametrize("n", [1, 2, 4])
def test_grey_image_counts_other_than_three_are_read_without_ambiguity(n: int) -> None:
    grey = RNG.random((n, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.stack(_decode(grey))[:, 1], grey)


def test_three_grey_images_must_say_which_they_are() -> None:
    with pytest.raises(StimulusError, match=r"ambiguous: for one colour image use x\[None\]; for three grey images \(N, H, W\) use x\[:, None\]"):
        as_stimuli(np.zeros((3, 4, 4), np.uint8))
    assert len(as_stimuli(np.zeros((3, 4, 4), np.uint8)[:, None])) == 3
    assert len(as_stimuli(np.zeros((3, 4, 4), np.uint8)[None])) == 1


@pytest.mark.parametrize("grey", [False, True])
def test_uint16_arrays_decode_like_16_bit_files(tmp_path: Path, grey: bool) -> None:
    eight = RNG.integers(0, 256, size=(1, 7, 6), dtype=np.uint8)
    sixteen = eight.astype(np.uint16) * 257
    Image.fromarray(sixteen[0]).save(tmp_path / "s.png")
    arr = sixteen if grey else np.repeat(sixteen[:, None], 3, axis=1)
    (got,) = _decode(arr)
    (from_file,) = _decode(tmp_path / "s.png")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, from_file)
    np.testing.assert_allclose(got[0], eight[0] / 255, atol=1e-6)
    assert _decode(np.full((1, 3, 2, 2), 65535, np.uint16))[0].max() == 1.0


def test_lists_of_differently_sized_arrays_and_tensors(tmp_path: Path) -> None:
    items = [
        RNG.integers(0, 256, (3, 5, 9), dtype=np.uint8),
        RNG.random((3, 8, 4)),
        torch.from_numpy(RNG.integers(0, 256, (6, 6), dtype=np.uint8)),
        RNG.integers(0, 256, (1, 4, 4), dtype=np.int64),
        (RNG.integers(0, 256, (2, 3), dtype=np.uint16) * 257),
        torch.from_numpy((RNG.integers(0, 256, (3, 4, 4)) / 256).astype(np.float32)).to(torch.bfloat16),
    ]
    got = _decode(items)
    assert [g.shape for g in got] == [(3, 5, 9), (3, 8, 4), (3, 6, 6), (3, 4, 4), (3, 2, 3), (3, 4, 4)]
    assert [g.dtype for g in got] == [np.uint8, np.float32, np.uint8, np.uint8, np.float32, np.float32]
    np.testing.assert_array_equal(got[0], items[0])
    np.testing.assert_array_equal(got[2][2], items[2].numpy())
    np.testing.assert_allclose(got[4][0], items[4] / 65535, rtol=1e-6)
    np.testing.assert_array_equal(got[5], items[5].float().numpy())
    assert as_stimuli(items).ids == list(range(6))


BAD_ITEMS = [
    ([np.zeros((3, 4, 4), np.uint8), np.zeros((2, 3, 4, 4), np.uint8)], r"item 1 of the stimulus list must be one image \(3, H, W\) or grey \(H, W\), got shape \(2, 3, 4, 4\)"),
    ([np.zeros((3, 4, 4), np.uint8), np.full((3, 4, 4), 2.0)], r"item 1 of the stimulus list has float values in \[2, 2\]"),
    ([np.zeros((4, 4, 3), np.uint8)], r"item 0 of the stimulus list must have 3 colour channels .*channels-last"),
    ([np.zeros((3, 4, 4), np.uint8), "a.png"], r"mixes arrays with other objects: item 1 is str"),
    ([np.zeros((3, 4, 4), np.uint8), 5], r"item 1 of the stimulus list is int 5; expected an array"),
    ([np.zeros((3, 0, 4), np.uint8)], r"item 0 of the stimulus list has empty images"),
    ([np.zeros(5, np.uint8)], r"one image \(3, H, W\) or grey \(H, W\), got shape \(5,\)"),
]


@pytest.mark.parametrize(("items", "message"), BAD_ITEMS, ids=[f"item{i}" for i in range(len(BAD_ITEMS))])
def test_bad_list_items_are_refused_by_index(items: list[Any], message: str) -> None:
    with pytest.raises(StimulusError, match=message):
        as_stimuli(items)


def test_mixed_sizes_and_dtypes_in_one_batch_are_each_prepared_by_their_own_rule() -> None:
    from berg_core.stimuli.transforms import square_crop_resize

    eight = RNG.integers(0, 256, (3, 8, 8), dtype=np.uint8)
    sixteen = eight.astype(np.uint16) * 257
    batch = as_stimuli([eight, sixteen]).tensors()
    assert as_stimuli([eight, sixteen]).stacked() is None  # same size, different dtypes: never promoted together
    out = square_crop_resize(batch, 4)
    torch.testing.assert_close(out[0], out[1], atol=1 / 255, rtol=0)
    torch.testing.assert_close(out[0], square_crop_resize([batch[0]], 4)[0], atol=0, rtol=0)
    assert float(out.max()) <= 1.0


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_grey_on_disk_arrays_follow_the_same_rules(tmp_path: Path, dtype: str) -> None:
    import zarr

    scale = {"uint8": 1, "uint16": 257, "float32": 1 / 255}[dtype]
    eight = RNG.integers(0, 256, size=(4, 5, 6), dtype=np.uint8)
    z = zarr.create_array(store=str(tmp_path / "g.zarr"), shape=eight.shape, chunks=(2, 5, 6), dtype=dtype)
    z[:] = (eight.astype(np.float64) * scale).astype(dtype)
    got = [t.numpy() for b in as_stimuli(z).batches(3) for t in b.tensors()]
    assert [g.shape for g in got] == [(3, 5, 6)] * 4
    as_unit = np.stack(got).astype(np.float32) / (255 if dtype == "uint8" else 1)
    np.testing.assert_allclose(as_unit, np.repeat(eight[:, None], 3, axis=1) / 255, atol=1e-6)
