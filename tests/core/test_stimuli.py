"""The stimulus adapter: every accepted form, and a clear error for the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from berg_core import StimulusError
from berg_core.stimuli.inputs import as_stimuli


def _rgb(h=12, w=9, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(3, h, w), dtype=np.uint8)


def test_uint8_array_of_any_aspect_is_kept_as_is():
    arr = np.stack([_rgb(12, 9, 0), _rgb(12, 9, 1)])
    st = as_stimuli(arr)
    assert len(st) == 2 and st.ids == [0, 1]
    (a, b) = st.tensors()
    assert a.dtype == torch.uint8 and tuple(a.shape) == (3, 12, 9)
    np.testing.assert_array_equal(b.numpy(), arr[1])


def test_float_array_in_unit_range_is_float32():
    arr = np.random.default_rng(0).random((2, 3, 5, 7))
    t = as_stimuli(arr).tensors()[0]
    assert t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), arr[0].astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint32, np.uint64])
def test_other_integer_dtypes_in_0_255_are_converted_not_rescaled(dtype):
    arr = np.stack([_rgb()]).astype(dtype)
    t = as_stimuli(arr).tensors()[0]
    assert t.dtype == torch.uint8
    np.testing.assert_array_equal(t.numpy(), arr[0].astype(np.uint8))


def test_torch_tensor_input_is_accepted():
    t = torch.from_numpy(np.stack([_rgb()]))
    assert len(as_stimuli(t)) == 1


def test_pil_images_and_a_single_pil_image():
    ims = [Image.fromarray(_rgb(8, 10, i).transpose(1, 2, 0)) for i in range(3)]
    st = as_stimuli(ims)
    assert len(st) == 3
    np.testing.assert_array_equal(st.tensors()[2].numpy(), _rgb(8, 10, 2))
    gray = Image.fromarray(np.full((4, 4), 7, dtype=np.uint8), mode="L")
    t = as_stimuli(gray).tensors()[0]
    assert tuple(t.shape) == (3, 4, 4) and int(t.max()) == 7


def test_files_and_folders_give_file_names_as_ids(tmp_path):
    for i, name in enumerate(["b.png", "a.png", "c.jpg"]):
        Image.fromarray(_rgb(6, 6, i).transpose(1, 2, 0)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    st = as_stimuli(tmp_path)
    assert st.ids == ["a.png", "b.png", "c.jpg"]
    np.testing.assert_array_equal(st.tensors()[1].numpy(), _rgb(6, 6, 0))
    st2 = as_stimuli([tmp_path / "c.jpg", str(tmp_path / "a.png")])
    assert st2.ids == ["c.jpg", "a.png"]
    assert len(as_stimuli(str(tmp_path / "b.png"))) == 1


def test_batches_are_lazy_slices():
    st = as_stimuli(np.stack([_rgb(seed=i) for i in range(5)]))
    sizes = [len(b) for b in st.batches(2)]
    assert sizes == [2, 2, 1]
    assert list(st.batches(2))[2].ids == [4]


BAD = [
    (np.zeros((3, 8, 8), np.uint8), r"4 dimensions \(N, 3, H, W\).*x\[None\]"),
    (np.zeros((2, 8, 8, 3), np.uint8), r"3 colour channels.*channels-last"),
    (np.zeros((0, 3, 8, 8), np.uint8), r"holds no images"),
    (np.zeros((1, 2, 8, 8), np.uint8), r"3 colour channels on axis 1"),
    (np.zeros((1, 3, 0, 8), np.uint8), r"empty images"),
    (np.full((1, 3, 4, 4), np.nan), r"NaN or infinite"),
    (np.full((1, 3, 4, 4), np.inf, dtype=np.float32), r"NaN or infinite"),
    (np.full((1, 3, 4, 4), 2.0), r"float values in \[2, 2\].*\[0, 1\]"),
    (np.full((1, 3, 4, 4), -1, dtype=np.int64), r"values in \[-1, -1\].*0-255"),
    (np.full((1, 3, 4, 4), 256, dtype=np.int32), r"values in \[256, 256\].*0-255"),
    (np.zeros((1, 3, 4, 4), bool), r"boolean"),
    (np.zeros((1, 3, 4, 4), complex), r"dtype complex128"),
    (np.zeros((1, 3, 4, 4), object), r"dtype object"),
    ([], r"stimulus list is empty"),
    ([1, 2], r"item 0 is int"),
    (np.zeros((3, 8, 8), np.uint8), r"ambiguous: for one colour image use x\[None\]; for three grey images"),
    ({"a": 1}, r"unsupported stimulus: got dict"),
    (42, r"unsupported stimulus: got int"),
    (None, r"unsupported stimulus: got NoneType"),
]


@pytest.mark.parametrize(("value", "message"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_stimuli_raise_stimulus_error_saying_what_was_given(value, message):
    with pytest.raises(StimulusError, match=message):
        as_stimuli(value)


def test_lists_mixing_images_with_other_objects(tmp_path):
    im = Image.fromarray(_rgb().transpose(1, 2, 0))
    with pytest.raises(StimulusError, match=r"mixes PIL images with other objects: item 1 is ndarray|item 1 is a NumPy array"):
        as_stimuli([im, _rgb()])
    p = tmp_path / "x.png"
    im.save(p)
    with pytest.raises(StimulusError, match=r"mixes file paths with other objects: item 1"):
        as_stimuli([p, im])


def test_missing_unreadable_and_non_image_files(tmp_path):
    with pytest.raises(StimulusError, match="does not exist"):
        as_stimuli(tmp_path / "missing.png")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StimulusError, match="holds no image files"):
        as_stimuli(empty)
    fake = tmp_path / "fake.png"
    fake.write_text("this is text")
    st = as_stimuli(fake)  # decoding is lazy (per batch) ...
    with pytest.raises(StimulusError, match=r"fake.png.*not a readable image"):
        st.tensors()  # ... and the error names the file


def test_glob_patterns_select_image_files(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ["x1.png", "sub/x2.png", "sub/y.jpg"]:
        Image.fromarray(_rgb(5, 5).transpose(1, 2, 0)).save(tmp_path / name)
    assert as_stimuli(str(tmp_path / "**" / "*.png")).ids == ["x2.png", "x1.png"]  # sorted by full path
    assert as_stimuli(str(tmp_path / "sub" / "*")).ids == ["x2.png", "y.jpg"]
    with pytest.raises(StimulusError, match=r"matches no image files"):
        as_stimuli(str(tmp_path / "*.tiff"))


def test_zarr_arrays_are_read_one_batch_at_a_time(tmp_path):
    import zarr

    data = np.stack([_rgb(6, 7, i) for i in range(5)])
    z = zarr.create_array(store=str(tmp_path / "imgs.zarr"), shape=data.shape, chunks=(1, 3, 6, 7), dtype="uint8")
    z[:] = data
    st = as_stimuli(zarr.open_array(str(tmp_path / "imgs.zarr"), mode="r"))
    assert len(st) == 5 and st.ids == [0, 1, 2, 3, 4]
    batches = list(st.batches(2))
    np.testing.assert_array_equal(batches[1].stacked().numpy(), data[2:4])
    np.testing.assert_array_equal(batches[2].tensors()[0].numpy(), data[4])


def test_bad_values_in_an_on_disk_array_are_found_when_their_batch_is_read(tmp_path):
    import zarr

    z = zarr.create_array(store=str(tmp_path / "f.zarr"), shape=(4, 3, 2, 2), dtype="float32")
    z[:] = 0.5
    z[3] = 7.0
    st = as_stimuli(z)
    assert len(st.batches(2).__next__().tensors()) == 2
    with pytest.raises(StimulusError, match=r"stimulus rows 2-3 of the array has float values in \[0.5, 7\]"):
        list(st.batches(2))[1].tensors()
    bad_rank = zarr.create_array(store=str(tmp_path / "r.zarr"), shape=(3, 2, 2), dtype="uint8")
    with pytest.raises(StimulusError, match=r"4 dimensions \(N, 3, H, W\), got shape \(3, 2, 2\)"):
        as_stimuli(bad_rank)
    bad_dtype = zarr.create_array(store=str(tmp_path / "b.zarr"), shape=(1, 3, 2, 2), dtype="bool")
    with pytest.raises(StimulusError, match=r"dtype bool"):
        as_stimuli(bad_dtype)


def test_iterators_of_paths_and_of_pil_images(tmp_path):
    for i in range(3):
        Image.fromarray(_rgb(5, 5, i).transpose(1, 2, 0)).save(tmp_path / f"i{i}.png")
    st = as_stimuli(sorted(tmp_path.glob("*.png")).__iter__())
    assert st.ids == ["i0.png", "i1.png", "i2.png"]
    gen = (Image.fromarray(_rgb(4, 4, i).transpose(1, 2, 0)) for i in range(2))
    assert len(as_stimuli(gen)) == 2
    with pytest.raises(StimulusError, match="iterator yielded nothing"):
        as_stimuli(iter([]))


def test_an_array_batch_stacks_without_a_copy_and_leaves_the_users_array_alone() -> None:
    data = np.stack([_rgb(6, 7, i) for i in range(4)])
    batch = as_stimuli(data)[1:3].decoded()
    stacked = batch.stacked()
    np.testing.assert_array_equal(stacked.numpy(), data[1:3])
    # the images handed out one by one are views of that one tensor, itself a copy of the user's rows
    assert [t.data_ptr() for t in batch.tensors()] == [stacked[i].data_ptr() for i in range(2)]
    assert not np.shares_memory(stacked.numpy(), data)
    assert batch.stacked() is stacked
