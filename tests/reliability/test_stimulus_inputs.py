"""Stimuli converted or refused, never silently changed (issue 11, classes 10 and 11).

Image files: 16-bit, 32-bit integer and float images are scaled by their real range or refused
by name; decompression bombs and absurd sizes are refused with the limit and how to raise it; a
FIFO, a device or a folder with an image's name is refused, never opened (no hang).

Inputs: odd tensors (bf16/fp16, sparse, meta, nested, complex, quantized, requiring grad), huge
broadcast views (never materialised), and on-disk arrays that fail (damaged or missing chunks,
read errors, fewer rows than promised, impossible shapes or dtypes) give a StimulusError naming
the stimulus and the reason.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import time
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from berg_core import StimulusError
from berg_core.stimuli.inputs import as_stimuli

RNG = np.random.default_rng(11)


def _grey8(h: int = 9, w: int = 13) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w), dtype=np.uint8)


def _decode(stimulus: Any, **kw: Any) -> list[np.ndarray]:
    return [t.numpy() for t in as_stimuli(stimulus, **kw).tensors()]


def _finishes(fn: Any, seconds: float = 20.0) -> Any:
    """Run ``fn`` in a thread: a hang fails the test instead of blocking the suite."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "reading the stimulus hung"
    if "error" in out:
        raise out["error"]
    return out["value"]


# ---- class 10: image files --------------------------------------------------------------------------

SIXTEEN_BIT = [("png", "I;16"), ("pgm", "I;16"), ("tif", "I;16"), ("tiff", "I;16B")]


@pytest.mark.parametrize(("ext", "mode"), SIXTEEN_BIT, ids=[f"{e}-{m}" for e, m in SIXTEEN_BIT])
def test_a_16_bit_file_gives_the_8_bit_image_it_was_made_from(tmp_path: Path, ext: str, mode: str) -> None:
    grey = _grey8()
    path = tmp_path / f"g16.{ext}"
    wide = grey.astype(np.uint16) * 257
    byte_order = ">u2" if mode.endswith("B") else "<u2"
    Image.frombytes(mode, grey.shape[::-1], wide.astype(byte_order).tobytes()).save(path)
    Image.fromarray(grey).save(tmp_path / "g8.png")
    (sixteen,) = _decode(path)
    (eight,) = _decode(tmp_path / "g8.png")
    assert sixteen.dtype == np.float32 and sixteen.shape == (3, *grey.shape)
    np.testing.assert_allclose(sixteen, eight.astype(np.float32) / 255, atol=1e-6)
    assert sixteen.max() <= 1.0


def test_a_pgm_with_another_maximum_is_scaled_by_that_maximum(tmp_path: Path) -> None:
    for maxval in (1023, 4095, 65535):
        values = np.array([[0, maxval], [maxval // 2, 1]], dtype=">u2")
        path = tmp_path / f"m{maxval}.pgm"
        path.write_bytes(f"P5\n2 2\n{maxval}\n".encode() + values.tobytes())
        (img,) = _decode(path)
        np.testing.assert_allclose(img[0], values.astype(np.float64) / maxval, atol=1e-4)


@pytest.mark.parametrize("top", [300, 70_000, 2**31 - 1])
def test_a_32_bit_integer_tiff_beyond_0_255_is_refused_by_name(tmp_path: Path, top: int) -> None:
    path = tmp_path / "i32.tif"
    Image.fromarray(np.array([[0, top], [5, 6]], dtype=np.int32), mode="I").save(path)
    with pytest.raises(StimulusError, match=rf"i32.tif' \(mode I, int32\) has integer dtype int32 with values in \[0, {top}\].*0-255"):
        _decode(path)
    negative = tmp_path / "neg.tif"
    Image.fromarray(np.array([[-4, 2]], dtype=np.int32), mode="I").save(negative)
    with pytest.raises(StimulusError, match=r"neg.tif'.*values in \[-4, 2\]"):
        _decode(negative)


def test_a_32_bit_integer_tiff_in_0_255_is_read_as_8_bit(tmp_path: Path) -> None:
    grey = _grey8()
    Image.fromarray(grey.astype(np.int32), mode="I").save(tmp_path / "i.tif")
    (img,) = _decode(tmp_path / "i.tif")
    assert img.dtype == np.uint8
    np.testing.assert_array_equal(img[1], grey)


def test_float_tiffs_follow_the_rule_of_float_arrays(tmp_path: Path) -> None:
    unit = RNG.random((6, 5)).astype(np.float32)
    Image.fromarray(unit, mode="F").save(tmp_path / "unit.tif")
    (img,) = _decode(tmp_path / "unit.tif")
    np.testing.assert_array_equal(img[2], unit)
    for name, values, message in [
        ("scaled.tif", unit * 255, r"float values in \[.*\]; float images must lie in \[0, 1\]"),
        ("nan.tif", np.where(unit > 0.5, np.nan, unit), r"NaN or infinite"),
        ("neg.tif", unit - 2, r"float values in \[-1\.9"),
    ]:
        Image.fromarray(values.astype(np.float32), mode="F").save(tmp_path / name)
        with pytest.raises(StimulusError, match=rf"{name}' \(mode F, float32\).*{message}"):
            _decode(tmp_path / name)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "CMYK", "1", "L", "YCbCr"])
def test_8_bit_modes_become_rgb_uint8(tmp_path: Path, mode: str) -> None:
    rgb = RNG.integers(0, 256, size=(7, 8, 3), dtype=np.uint8)
    im = Image.fromarray(rgb).convert(mode)
    ext = "jpg" if mode in ("CMYK", "YCbCr") else "png"
    path = tmp_path / f"x.{ext}"
    im.save(path)
    (img,) = _decode(path)
    assert img.dtype == np.uint8 and img.shape == (3, 7, 8)
    with Image.open(path) as again:
        np.testing.assert_array_equal(img, np.asarray(again.convert("RGB")).transpose(2, 0, 1))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, depth: int, colour: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(idat)) + _chunk(b"IEND", b"")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds one tiny (truncated) IDAT: a bomb costs nothing to write."""
    return _png(width, height, 8, 0, b"\0" * 64)


@pytest.mark.parametrize(("colour", "channels"), [(2, 3), (6, 4), (4, 2)], ids=["RGB48", "RGBA64", "LA32"])
def test_a_16_bit_colour_png_gives_the_8_bit_image_it_was_made_from(tmp_path: Path, colour: int, channels: int) -> None:
    eight = RNG.integers(0, 256, size=(5, 7, channels), dtype=np.uint8)
    rows = (eight.astype(">u2") * 257).reshape(5, -1)
    path = tmp_path / "deep.png"
    path.write_bytes(_png(7, 5, 16, colour, b"".join(b"\0" + row.tobytes() for row in rows)))
    (img,) = _decode(path)
    rgb = eight[..., :3] if channels >= 3 else np.repeat(eight[..., :1], 3, axis=2)
    np.testing.assert_allclose(img.astype(np.float32) / (255 if img.dtype == np.uint8 else 1), rgb.transpose(2, 0, 1) / 255, atol=1e-6)


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (2**31 - 1, 1), (20_000, 9_000)])
def test_an_absurd_size_is_refused_before_decoding(tmp_path: Path, width: int, height: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(width, height))
    tracemalloc.start()
    try:
        with pytest.raises(StimulusError, match=r"bomb.png' is .*than the limit of 89,478,485.*BERG_MAX_IMAGE_PIXELS"):
            _decode(path)
        assert tracemalloc.get_traced_memory()[1] < 50e6
    finally:
        tracemalloc.stop()


def test_pillows_bomb_warning_and_error_become_stimulus_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a user who lowered Pillow's own limit
    for side in (11, 15):  # 121 pixels: Pillow warns; 225 > 2 x 100: Pillow raises
        path = tmp_path / f"s{side}.png"
        Image.fromarray(_grey8(side, side)).save(path)
        with pytest.raises(StimulusError, match=rf"s{side}.png' is larger than the limit .*BERG_MAX_IMAGE_PIXELS"):
            _decode(path)


def test_the_limit_is_raised_or_lowered_with_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(_grey8(40, 50)).save(path)
    monkeypatch.setenv("BERG_MAX_IMAGE_PIXELS", "1999")
    with pytest.raises(StimulusError, match=r"big.png' is 50 x 40 = 2,000 pixels, more than the limit of 1,999.*BERG_MAX_IMAGE_PIXELS"):
        _decode(path)
    monkeypatch.setenv("BERG_MAX_IMAGE_PIXELS", "2000")
    assert _decode(path)[0].shape == (3, 40, 50)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.setenv("BERG_MAX_IMAGE_PIXELS", "5000")  # raising berg's limit raises Pillow's too
    assert _decode(path)[0].shape == (3, 40, 50)
    for bad in ("-1", "0", "lots", "1e9"):
        monkeypatch.setenv("BERG_MAX_IMAGE_PIXELS", bad)
        with pytest.raises(StimulusError, match=r"BERG_MAX_IMAGE_PIXELS must be a positive whole number"):
            _decode(path)


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_fifo_named_like_an_image_is_refused_never_opened(tmp_path: Path) -> None:
    fifo = _fifo(tmp_path / "x.png")
    Image.fromarray(_grey8()).save(tmp_path / "real.png")
    message = r"x.png' is a FIFO \(named pipe\), not an image file; expected a regular file"
    for stimulus in (fifo, str(fifo), [tmp_path / "real.png", fifo], tmp_path, str(tmp_path / "*.png")):
        with pytest.raises(StimulusError, match=message):
            _finishes(lambda s=stimulus: as_stimuli(s))


def test_a_file_replaced_by_a_fifo_after_listing_is_refused_when_read(tmp_path: Path) -> None:
    path = tmp_path / "later.png"
    Image.fromarray(_grey8()).save(path)
    st = as_stimuli(tmp_path)
    path.unlink()
    _fifo(path)
    with pytest.raises(StimulusError, match=r"later.png' is a FIFO"):
        _finishes(st.tensors)


def test_devices_sockets_and_folders_named_like_images_are_refused(tmp_path: Path) -> None:
    import socket

    (tmp_path / "null.png").symlink_to("/dev/null")
    with pytest.raises(StimulusError, match=r"null.png' is a device, not an image file"):
        as_stimuli(tmp_path / "null.png")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "s.jpg"))
        with pytest.raises(StimulusError, match=r"s.jpg' is a socket"):
            as_stimuli(tmp_path / "s.jpg")
    finally:
        sock.close()
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(StimulusError, match=r"dir.png' is a folder, not an image file"):
        as_stimuli(str(tmp_path / "*.png"))
    with pytest.raises(StimulusError, match=r"item 0 of the stimulus list is a folder"):
        as_stimuli([tmp_path / "dir.png"])


# ---- class 11: tensors ----------------------------------------------------------------------------------


def _grid(n: int = 2, h: int = 5, w: int = 6) -> np.ndarray:
    """Values k/256: exact in every float dtype, bf16 included."""
    return (RNG.integers(0, 256, size=(n, 3, h, w)) / 256).astype(np.float32)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_float_tensors_of_every_precision_are_widened_to_float32(dtype: torch.dtype) -> None:
    values = _grid()
    got = _decode(torch.from_numpy(values).to(dtype))
    assert all(g.dtype == np.float32 for g in got)
    np.testing.assert_array_equal(np.stack(got), values)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64, torch.uint16])
def test_integer_tensors_follow_the_array_rules(dtype: torch.dtype) -> None:
    values = RNG.integers(0, 256, size=(2, 3, 4, 4))
    got = np.stack(_decode(torch.from_numpy(values).to(dtype)))
    expected = values / 65535 if dtype == torch.uint16 else values
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_tensors_that_require_grad_or_are_views_are_read_as_they_are() -> None:
    base = torch.from_numpy(_grid(4)).requires_grad_(True)
    np.testing.assert_array_equal(np.stack(_decode(base)), base.detach().numpy())
    strided = base[::2, :, 1:]
    np.testing.assert_array_equal(np.stack(_decode(strided)), strided.detach().numpy())


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's "nested tensors are in prototype stage"
def test_a_nested_tensor_is_a_list_of_differently_sized_images() -> None:
    a, b = torch.from_numpy(_grid(1, 4, 5)[0]), torch.from_numpy(_grid(1, 7, 3)[0])
    got = _decode(torch.nested.nested_tensor([a, b]))
    assert [g.shape for g in got] == [(3, 4, 5), (3, 7, 3)]
    np.testing.assert_array_equal(got[1], b.numpy())


REFUSED_TENSORS = [
    ("sparse COO", lambda: torch.from_numpy(_grid()).to_sparse(), r"sparse tensor \(layout torch.sparse_coo\); pass t.to_dense\(\)"),
    ("sparse CSR", lambda: torch.eye(4).to_sparse_csr(), r"sparse tensor \(layout torch.sparse_csr\)"),
    ("meta", lambda: torch.empty(2, 3, 4, 4, device="meta"), r"meta tensor of shape \(2, 3, 4, 4\): it has a shape but no values"),
    ("complex64", lambda: torch.zeros(1, 3, 4, 4, dtype=torch.complex64), r"dtype torch.complex64; expected uint8"),
    ("complex128", lambda: torch.zeros(1, 3, 4, 4, dtype=torch.complex128), r"dtype torch.complex128"),
    ("quantized", lambda: torch.quantize_per_tensor(torch.zeros(1, 3, 2, 2), 0.1, 0, torch.quint8), r"quantized tensor.*dequantize"),
    ("float8", lambda: torch.zeros(1, 3, 2, 2).to(torch.float8_e4m3fn), r"float8_e4m3fn.*cannot be read as an array"),
    ("bool", lambda: torch.zeros(1, 3, 2, 2, dtype=torch.bool), r"is boolean"),
    ("bf16 NaN", lambda: torch.full((1, 3, 2, 2), float("nan"), dtype=torch.bfloat16), r"NaN or infinite"),
    ("fp16 above 1", lambda: torch.full((1, 3, 2, 2), 3.0, dtype=torch.float16), r"float values in \[3, 3\]"),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's beta-feature notices (sparse CSR, quantized)
@pytest.mark.parametrize(("make", "message"), [c[1:] for c in REFUSED_TENSORS], ids=[c[0] for c in REFUSED_TENSORS])
def test_odd_tensors_are_refused_saying_why(make: Any, message: str) -> None:
    with pytest.raises(StimulusError, match=rf"the stimulus tensor .*{message}|the stimulus array .*{message}"):
        as_stimuli(make())


def test_odd_tensors_inside_a_list_are_refused_by_their_index() -> None:
    good = torch.zeros(3, 4, 4, dtype=torch.uint8)
    with pytest.raises(StimulusError, match=r"item 1 of the stimulus list is a meta tensor"):
        as_stimuli([good, torch.empty(3, 4, 4, device="meta")])
    with pytest.raises(StimulusError, match=r"item 2 of the stimulus list has dtype torch.complex64"):
        as_stimuli([good, good, torch.zeros(3, 4, 4, dtype=torch.complex64)])


# ---- class 11: huge broadcast views -------------------------------------------------------------------

GIB = 1 << 30


@pytest.mark.parametrize(
    ("dtype", "grey"), [(np.uint8, False), (np.float64, False), (np.uint16, False), (np.int64, True), (np.float32, True)]
)
def test_a_28_gib_broadcast_view_is_read_batch_by_batch(dtype: Any, grey: bool) -> None:
    side = 224
    pixels = RNG.random((side, side)) * (200 if np.dtype(dtype).kind in "iu" else 1)
    one = pixels.astype(dtype)[None] if grey else np.stack([pixels] * 3).astype(dtype)
    n = 28 * GIB // one.nbytes
    view = np.broadcast_to(one, (n, *one.shape))
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        st = as_stimuli(view)
        base, accepting = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        batches = st.batches(4)
        first, second = next(batches), next(batches)
        x = first.stacked()
        second.tensors()
        reading = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert len(st) == n and x.shape == (4, 3, side, side)
    np.testing.assert_allclose(x[3, 2].numpy(), pixels.astype(dtype) / (65535 if dtype == np.uint16 else 1), rtol=1e-6)
    # accepting it costs its ids (a Python int each, about 36 bytes), never its pixels
    assert accepting < n * 48 + 16e6, f"{accepting / 1e6:.0f} MB allocated to accept a broadcast view"
    assert reading < 40e6, f"{reading / 1e6:.0f} MB allocated to read two batches of 4"
    assert time.perf_counter() - t0 < 10


def test_a_broadcast_view_with_one_bad_value_is_refused_up_front() -> None:
    one = np.full((1, 3, 32, 32), 0.5)
    one[0, 1, 3, 4] = np.nan
    with pytest.raises(StimulusError, match=r"NaN or infinite"):
        as_stimuli(np.broadcast_to(one, (10**7, 3, 32, 32)))


def test_an_expanded_bf16_tensor_is_widened_without_materialising() -> None:
    n = 28 * GIB // (3 * 224 * 224 * 2)
    t = torch.from_numpy(_grid(1, 224, 224)).to(torch.bfloat16).expand(n, 3, 224, 224)
    tracemalloc.start()
    try:
        st = as_stimuli(t)
        x = next(st.batches(8)).stacked()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(st) == n and x.dtype == torch.float32
    assert peak < 64e6


# ---- class 11: on-disk arrays --------------------------------------------------------------------------


def _zarr_images(path: Path, n: int = 6, **kw: Any) -> tuple[Any, np.ndarray]:
    import zarr

    data = RNG.integers(1, 256, size=(n, 3, 4, 5), dtype=np.uint8)
    z = zarr.create_array(store=str(path), shape=data.shape, dtype="uint8", **{"chunks": (2, 3, 4, 5), **kw})
    z[:] = data
    return zarr.open_array(str(path), mode="r"), data


def _chunk_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ("zarr.json", ".zarray", ".zattrs", ".zgroup"))


ZARR_LAYOUTS = {
    "v3": {},
    "v2": {"zarr_format": 2},
    "v3-sharded": {"chunks": (1, 3, 4, 5), "shards": (2, 3, 4, 5)},
    "v3-spatial-chunks": {"chunks": (2, 3, 2, 5)},
}


@pytest.mark.parametrize("layout", list(ZARR_LAYOUTS))
def test_a_missing_zarr_chunk_is_an_error_not_black_images(tmp_path: Path, layout: str) -> None:
    z, _ = _zarr_images(tmp_path / "s.zarr", **ZARR_LAYOUTS[layout])
    files = _chunk_files(tmp_path / "s.zarr")
    victim = files[len(files) // 2]
    victim.unlink()
    st = as_stimuli(z)
    seen, errors = [], []
    for batch in st.batches(2):
        try:
            seen.extend(batch.tensors())
        except StimulusError as exc:
            errors.append(str(exc))
    assert len(errors) == 1, errors
    assert re.search(r"stimulus rows \d+-\d+ of the array: 1 chunk\(s\) are missing from the Zarr store .*fill value", errors[0])
    assert all(t.numpy().min() > 0 or t.numpy().max() > 0 for t in seen) and len(seen) == 4


def test_a_missing_chunk_of_an_array_inside_a_group_is_found(tmp_path: Path) -> None:
    import zarr

    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    arr = group.create_array("images/train", shape=(4, 3, 2, 2), chunks=(1, 3, 2, 2), dtype="float32")
    arr[:] = 0.25
    (tmp_path / "g.zarr" / "images" / "train" / "c" / "3" / "0" / "0" / "0").unlink()
    st = as_stimuli(zarr.open_group(str(tmp_path / "g.zarr"), mode="r")["images/train"])
    assert len(next(st.batches(3)).tensors()) == 3
    with pytest.raises(StimulusError, match=r"rows 3-3 .*images/train/c/3/0/0/0"):
        list(st.batches(3))[1].tensors()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_zarr_chunk_is_a_stimulus_error(tmp_path: Path, damage: str) -> None:
    z, _ = _zarr_images(tmp_path / "d.zarr")
    victim = _chunk_files(tmp_path / "d.zarr")[1]
    raw = victim.read_bytes()
    victim.write_bytes({"garbage": bytes(RNG.integers(0, 256, len(raw), dtype=np.uint8)), "truncated": raw[: len(raw) // 2], "empty": b""}[damage])
    st = as_stimuli(z)
    with pytest.raises(StimulusError, match=r"reading stimulus rows 2-3 of the array failed \(\w+"):
        list(st.batches(2))[1].tensors()


class FakeLazy:
    """An on-disk array as berg sees one (shape, dtype, slicing), misbehaving on demand."""

    def __init__(self, shape: Any = (4, 3, 2, 2), dtype: Any = "uint8", fail: Any = None, rows: int | None = None) -> None:
        self.shape, self.dtype, self.fail, self.rows = shape, dtype, fail, rows

    def __getitem__(self, index: slice) -> np.ndarray:
        if self.fail is not None:
            raise self.fail
        n = len(range(*index.indices(int(self.shape[0]))))
        return np.zeros((min(n, self.rows) if self.rows is not None else n, *self.shape[1:]), dtype=self.dtype) + 1


LAZY_FAILURES = [
    ("read OSError", FakeLazy(fail=OSError(5, "Input/output error")), r"reading stimulus rows 0-1 of the array failed \(OSError: .*Input/output error"),
    ("codec error", FakeLazy(fail=RuntimeError("blosc decompression failed")), r"failed \(RuntimeError: blosc decompression failed\)"),
    ("key error", FakeLazy(fail=KeyError("c/0/0")), r"failed \(KeyError"),
    ("memory", FakeLazy(fail=MemoryError()), r"rows 0-1 of the array do not fit in memory; pass a smaller batch_size"),
    ("fewer rows", FakeLazy(rows=1), r"gave an array of shape \(1, 3, 2, 2\), not the 2 rows of shape \(3, 2, 2\)"),
]
LAZY_REFUSED = [
    ("negative shape", FakeLazy(shape=(-4, 3, 2, 2)), r"negative size in its shape \(-4, 3, 2, 2\)"),
    ("unknown shape", FakeLazy(shape=(float("nan"), 3, 2, 2)), r"not a list of whole numbers"),
    ("None in shape", FakeLazy(shape=(None, 3, 2, 2)), r"not a list of whole numbers"),
    ("not a dtype", FakeLazy(dtype="pixels"), r"dtype 'pixels', which is not a NumPy dtype"),
    ("object dtype", FakeLazy(dtype=object), r"dtype object; expected uint8"),
    ("string dtype", FakeLazy(dtype="U4"), r"dtype <U4; expected"),
    ("structured dtype", FakeLazy(dtype=[("r", "u1"), ("g", "u1")]), r"dtype \[\('r', 'u1'\), \('g', 'u1'\)\]; expected"),
    ("complex dtype", FakeLazy(dtype="c8"), r"dtype complex64"),
    ("no rows", FakeLazy(shape=(0, 3, 2, 2)), r"holds no images"),
    ("wrong rank", FakeLazy(shape=(4, 3, 2, 2, 1)), r"4 dimensions"),
]


@pytest.mark.parametrize(("arr", "message"), [c[1:] for c in LAZY_FAILURES], ids=[c[0] for c in LAZY_FAILURES])
def test_a_lazy_array_that_fails_when_read_names_the_rows(arr: FakeLazy, message: str) -> None:
    st = as_stimuli(arr)
    with pytest.raises(StimulusError, match=message):
        next(st.batches(2)).tensors()


@pytest.mark.parametrize(("arr", "message"), [c[1:] for c in LAZY_REFUSED], ids=[c[0] for c in LAZY_REFUSED])
def test_a_lazy_array_that_cannot_hold_images_is_refused_up_front(arr: FakeLazy, message: str) -> None:
    with pytest.raises(StimulusError, match=rf"the stimulus array .*{message}"):
        as_stimuli(arr)


def test_a_dask_array_whose_blocks_fail_is_a_stimulus_error() -> None:
    da = pytest.importorskip("dask.array")

    def boom(block: np.ndarray) -> np.ndarray:
        raise OSError("chunk 1 unreadable")

    arr = da.zeros((4, 3, 2, 2), chunks=(2, 3, 2, 2), dtype="uint8").map_blocks(boom, dtype="uint8")
    with pytest.raises(StimulusError, match=r"reading stimulus rows 0-1 of the array failed \(OSError: chunk 1 unreadable\)"):
        next(as_stimuli(arr).batches(2)).tensors()
    unknown = da.zeros((4, 3, 2, 2), chunks=2, dtype="uint8")
    unknown = unknown[unknown[:, 0, 0, 0] >= 0]  # rows known only once computed
    with pytest.raises(StimulusError, match=r"not a list of whole numbers \(unknown chunk sizes\?\)"):
        as_stimuli(unknown)


def test_h5py_datasets_read_and_refuse_like_zarr(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    data = RNG.integers(0, 256, size=(5, 3, 4, 4), dtype=np.uint8)
    with h5py.File(tmp_path / "s.h5", "w") as f:
        f["images"] = data
        f["wide"] = data.astype(np.int32) * 10
    with h5py.File(tmp_path / "s.h5", "r") as f:
        np.testing.assert_array_equal(np.stack(_decode(f["images"])), data)
        with pytest.raises(StimulusError, match=r"integer dtype int32 with values in"):
            next(as_stimuli(f["wide"]).batches(5)).tensors()

