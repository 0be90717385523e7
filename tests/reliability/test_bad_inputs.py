"""The catalogue of bad inputs: each one, through the API or the command line, raises the named
BERGError subclass with a message that says what was expected (and, where it helps, what was given).

Read the tables as the list of promises. Models are loaded once per module; selection errors are
found from the metadata, before any weight is read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from berg_core import (
    BERG,
    BERGError,
    InvalidParameterError,
    ModelNotFoundError,
    StimulusError,
    StoreError,
)
from berg_core.cli.main import main

from .conftest import EEG, FSAVERAGE, FWRF, write_images

N_VERTICES = 163_842


@dataclass
class Ctx:
    """What the cases act on: a store, a loaded fwRF model and a few files."""

    berg: Any
    fwrf: Any
    tmp: Path
    image: Path  # one real PNG
    text_png: Path  # text with an image name
    no_images: Path  # a folder holding no image
    zarr_group: Path  # a Zarr group that is not a berg result
    a_file: Path  # a regular file where a folder is expected

    def encode(self, stimulus: Any, **kw: Any) -> Any:
        return self.berg.encode(self.fwrf, stimulus, show_progress=False, **kw)

    def pixels(self, shape: tuple[int, ...] = (2, 3, 8, 8), dtype: Any = np.uint8, fill: Any = 0) -> np.ndarray:
        return np.full(shape, fill, dtype=dtype)

    def load(self, model_id: str, subject: Any = 1, **kw: Any) -> Any:
        return self.berg.get_encoding_model(model_id, subject=subject, device="cpu", **kw)

    def pil(self) -> Any:
        return Image.open(self.image).convert("RGB")


@pytest.fixture(scope="module")
def ctx(store_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Ctx:
    import zarr

    tmp = tmp_path_factory.mktemp("bad_inputs")
    image = write_images(tmp / "images", 1) / "img00.png"
    (tmp / "text.png").write_text("this is text, not a PNG")
    (tmp / "no_images").mkdir()
    (tmp / "no_images" / "notes.txt").write_text("no image here")
    zarr.open_group(str(tmp / "other.zarr"), mode="w").attrs["owner"] = "someone else"
    (tmp / "a_file").write_text("a file")
    berg = BERG(store_root)
    fwrf = berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")
    return Ctx(berg, fwrf, tmp, image, tmp / "text.png", tmp / "no_images", tmp / "other.zarr", tmp / "a_file")


@dataclass(frozen=True)
class Case:
    what: str
    error: type[BERGError]
    message: str  # a regular expression the message must match
    call: Callable[[Ctx], Any]


def _mask(size: int, ones: int = 0) -> np.ndarray:
    m = np.zeros(size, dtype=np.int64)
    m[:ones] = 1
    return m


API_CASES = [
    # ---- stimuli: arrays -------------------------------------------------------------------------
    Case("one image without the batch axis", StimulusError, r"4 dimensions \(N, 3, H, W\), got shape \(3, 8, 8\).*x\[None\]",
         lambda c: c.encode(c.pixels((3, 8, 8)))),
    Case("five dimensions", StimulusError, r"4 dimensions \(N, 3, H, W\), got shape \(1, 1, 3, 8, 8\)",
         lambda c: c.encode(c.pixels((1, 1, 3, 8, 8)))),
    Case("channels last", StimulusError, r"3 colour channels on axis 1 \(N, 3, H, W\), got shape \(2, 8, 8, 3\).*channels-last",
         lambda c: c.encode(c.pixels((2, 8, 8, 3)))),
    Case("two colour channels", StimulusError, r"3 colour channels on axis 1 \(N, 3, H, W\), got shape \(2, 2, 8, 8\)",
         lambda c: c.encode(c.pixels((2, 2, 8, 8)))),
    Case("four colour channels (RGBA)", StimulusError, r"3 colour channels on axis 1 .*got shape \(2, 4, 8, 8\)",
         lambda c: c.encode(c.pixels((2, 4, 8, 8)))),
    Case("empty batch", StimulusError, r"holds no images \(shape \(0, 3, 8, 8\)\); expected at least one image",
         lambda c: c.encode(c.pixels((0, 3, 8, 8)))),
    Case("images of zero height", StimulusError, r"empty images \(shape \(1, 3, 0, 8\)\); expected H and W of at least 1",
         lambda c: c.encode(c.pixels((1, 3, 0, 8)))),
    Case("NaN pixels", StimulusError, r"NaN or infinite values; expected floats in \[0, 1\]",
         lambda c: c.encode(c.pixels(dtype=np.float64, fill=np.nan))),
    Case("infinite pixels", StimulusError, r"NaN or infinite values; expected floats in \[0, 1\]",
         lambda c: c.encode(c.pixels(dtype=np.float32, fill=np.inf))),
    Case("floats above 1 (unscaled 0-255)", StimulusError, r"float values in \[0, 255\]; float images must lie in \[0, 1\]",
         lambda c: c.encode(np.linspace(0, 255, 2 * 3 * 8 * 8).reshape(2, 3, 8, 8))),
    Case("negative floats", StimulusError, r"float values in \[-0.5, -0.5\]; float images must lie in \[0, 1\]",
         lambda c: c.encode(c.pixels(dtype=np.float32, fill=-0.5))),
    Case("int64 above 255", StimulusError, r"integer dtype int64 with values in \[300, 300\]; integer images must lie in 0-255",
         lambda c: c.encode(c.pixels(dtype=np.int64, fill=300))),
    Case("negative integers", StimulusError, r"values in \[-1, -1\]; integer images must lie in 0-255",
         lambda c: c.encode(c.pixels(dtype=np.int16, fill=-1))),
    Case("boolean pixels", StimulusError, r"is boolean; expected uint8 values 0-255 or floats in \[0, 1\]",
         lambda c: c.encode(c.pixels(dtype=bool))),
    Case("complex pixels", StimulusError, r"dtype complex128; expected uint8, another integer type in 0-255, or float in \[0, 1\]",
         lambda c: c.encode(c.pixels(dtype=complex))),
    Case("torch tensor of the wrong rank", StimulusError, r"4 dimensions \(N, 3, H, W\), got shape \(3, 8, 8\)",
         lambda c: c.encode(torch.zeros(3, 8, 8, dtype=torch.uint8))),
    # ---- stimuli: files and lists ------------------------------------------------------------------
    Case("a text file named .png", StimulusError, r"text.png' is not a readable image file .*expected \.jpg, \.jpeg, \.png",
         lambda c: c.encode(c.text_png)),
    Case("a path that does not exist", StimulusError, r"missing.png' does not exist; expected an image file or a folder of images",
         lambda c: c.encode(c.tmp / "missing.png")),
    Case("a path below a regular file", StimulusError, r"a_file/x.png' does not exist",
         lambda c: c.encode(c.a_file / "x.png")),
    Case("a folder without images", StimulusError, r"no_images' holds no image files; expected files ending in \.jpg",
         lambda c: c.encode(c.no_images)),
    Case("a pattern matching no image", StimulusError, r"the pattern .*\*\.tiff' matches no image files \(ending in \.jpg",
         lambda c: c.encode(str(c.tmp / "images" / "*.tiff"))),
    Case("a folder inside a list of files", StimulusError, r"item 1 of the stimulus list is a folder .*list image files",
         lambda c: c.encode([c.image, c.tmp / "images"])),
    Case("list mixing PIL images and arrays", StimulusError, r"mixes PIL images with other objects: item 1 is a NumPy array",
         lambda c: c.encode([c.pil(), c.pixels((3, 8, 8))])),
    Case("list mixing paths and PIL images", StimulusError, r"mixes file paths with other objects: item 1 is Image",
         lambda c: c.encode([c.image, c.pil()])),
    Case("list of numbers", StimulusError, r"items must be arrays, PIL images or file paths; item 0 is int 1",
         lambda c: c.encode([1, 2])),
    Case("empty list", StimulusError, r"stimulus list is empty; expected a uint8 array \(N, 3, H, W\)",
         lambda c: c.encode([])),
    Case("a dict", StimulusError, r"unsupported stimulus: got dict .*; expected a uint8 array \(N, 3, H, W\)",
         lambda c: c.encode({"image": 1})),
    Case("None", StimulusError, r"unsupported stimulus: got NoneType None; expected",
         lambda c: c.encode(None)),
    # ---- models and subjects -------------------------------------------------------------------------
    Case("unknown model id", ModelNotFoundError, r"unknown model 'fmri-nsd-fwfr'\. Did you mean 'fmri-nsd-fwrf'\? Available models: .*eeg-things",
         lambda c: c.load("fmri-nsd-fwfr")),
    Case("model id that is not a string", ModelNotFoundError, r"model_id must be a string such as \[.*\], got int",
         lambda c: c.berg.get_encoding_model(7, subject=1)),
    Case("subject out of range", InvalidParameterError, r"subject 9 is not available for fmri-nsd-fwrf; valid subjects: \[1, 2, 3, 4, 5, 6, 7, 8\]",
         lambda c: c.load(FWRF, subject=9, selection={"roi": "V1"})),
    Case("subject as a word", InvalidParameterError, r"subject must be an integer, one of \[1, .*, 8\], got str 'one'",
         lambda c: c.load(FWRF, subject="one")),
    Case("subject as a bool", InvalidParameterError, r"subject must be an integer, one of \[1, .*\], got bool True",
         lambda c: c.load(FWRF, subject=True)),
    Case("subject missing", InvalidParameterError, r"fmri-nsd-fwrf needs subject=\.\.\., one of \[1, 2, 3, 4, 5, 6, 7, 8\]",
         lambda c: c.load(FWRF, subject=None)),
    Case("subject valid but absent from the store", StoreError, r"missing file in store: .*metadata_subject-02.npy",
         lambda c: c.load(EEG, subject=2)),
    Case("unknown load option", InvalidParameterError, r"unknown option\(s\) \['colour'\] for fmri-nsd-fwrf.get_encoding_model; accepted: ",
         lambda c: c.load(FWRF, selection={"roi": "V1"}, colour="red")),
    Case("selection that is not a dict", InvalidParameterError, r"selection must be a dict such as \{'roi': 'V1'\} or None, got list",
         lambda c: c.load(FWRF, selection=["V1"])),
    # ---- ROIs (fwRF, fsaverage) -------------------------------------------------------------------------
    Case("fwRF: unknown ROI", InvalidParameterError, r"unknown ROI 'V9' for fmri-nsd-fwrf\..*Valid ROIs: \['V1', 'V2', .*'ventral'\]",
         lambda c: c.load(FWRF, selection={"roi": "V9"})),
    Case("fwRF: ROI in the wrong case", InvalidParameterError, r"unknown ROI 'ffa-1' .*Did you mean 'FFA-1'\?",
         lambda c: c.load(FWRF, selection={"roi": "ffa-1"})),
    Case("fwRF: no ROI", InvalidParameterError, r"fmri-nsd-fwrf needs selection=\.\.\., e\.g\. \{'roi': 'V1'\}; valid ROIs: \['V1'",
         lambda c: c.load(FWRF)),
    Case("fwRF: empty ROI list", InvalidParameterError, r"selection\['roi'\] is an empty list; expected a ROI name or a list of names from \['V1'",
         lambda c: c.load(FWRF, selection={"roi": []})),
    Case("fwRF: ROI that is not a name", InvalidParameterError, r"must hold ROI names \(strings\), got int 1; valid ROIs: \['V1'",
         lambda c: c.load(FWRF, selection={"roi": ["V1", 1]})),
    Case("fwRF: unknown selection key", InvalidParameterError, r"unknown selection key\(s\) \['voxels'\] for fmri-nsd-fwrf; accepted: \['roi'\]",
         lambda c: c.load(FWRF, selection={"roi": "V1", "voxels": [1]})),
    Case("fsaverage: unknown ROI", InvalidParameterError, r"unknown ROI 'FFA' for fmri-nsd_fsaverage-vit_b_32\..*Valid ROIs: \[.*'V1v'",
         lambda c: c.load(FSAVERAGE, selection={"roi": "FFA"})),
    # ---- masks and conflicting keys (fsaverage, EEG) ----------------------------------------------------
    Case("fsaverage: boolean mask of the wrong length", InvalidParameterError,
         r"selection\['lh_vertices'\] as a binary mask must have 163,842 entries \(one per vertex\), got 100",
         lambda c: c.load(FSAVERAGE, selection={"lh_vertices": np.ones(100, dtype=bool)})),
    Case("fsaverage: all-zero mask", InvalidParameterError,
         r"selection\['rh_vertices'\] is an all-zero mask, which selects no vertex; .*pass an empty list \(selection\['rh_vertices'\] = \[\]\)",
         lambda c: c.load(FSAVERAGE, selection={"rh_vertices": _mask(N_VERTICES)})),
    Case("fsaverage: mask with values other than 0/1", InvalidParameterError,
         r"selection\['lh_vertices'\] as a binary mask must hold only 0/1 \(or True/False\), but entry 0 is 2",
         lambda c: c.load(FSAVERAGE, selection={"lh_vertices": np.full(N_VERTICES, 2)})),
    Case("fsaverage: vertex index out of range", InvalidParameterError, r"selection\['lh_vertices'\] holds vertex index 163842, outside 0-163841",
         lambda c: c.load(FSAVERAGE, selection={"lh_vertices": [0, N_VERTICES]})),
    Case("fsaverage: ROI and vertices together", InvalidParameterError,
         r"selection gives both 'roi' and \['lh_vertices'\]; 'roi' conflicts with \['lh_vertices', 'rh_vertices'\] on fmri-nsd_fsaverage-vit_b_32: choose either, not both",
         lambda c: c.load(FSAVERAGE, selection={"roi": "V1", "lh_vertices": _mask(N_VERTICES, 5)})),
    Case("fsaverage: both hemispheres left out", InvalidParameterError, r"selection leaves out both hemispheres .*select at least one vertex",
         lambda c: c.load(FSAVERAGE, selection={"lh_vertices": [], "rh_vertices": []})),
    Case("EEG: unknown channel", InvalidParameterError, r"unknown channel 'XY1' for eeg-things_eeg_2-vit_b_32\. Valid channels: \['Fp1', 'F3', 'F7'.*'AF8'\]",
         lambda c: c.load(EEG, selection={"channels": ["Oz", "XY1"]})),
    Case("EEG: channel in the wrong case", InvalidParameterError, r"unknown channel 'oz' .*Did you mean 'Oz'\?",
         lambda c: c.load(EEG, selection={"channels": ["oz"]})),
    Case("EEG: time mask of the wrong length", InvalidParameterError, r"selection\['timepoints'\] as a binary mask must have 140 entries \(one per time point\), got 139",
         lambda c: c.load(EEG, selection={"timepoints": _mask(139, 3)})),
    Case("EEG: all-zero time mask", InvalidParameterError, r"selection\['timepoints'\] is an all-zero mask, which selects no time point",
         lambda c: c.load(EEG, selection={"timepoints": _mask(140)})),
    Case("EEG: a selection key of another model", InvalidParameterError,
         r"unknown selection key\(s\) \['roi'\] for eeg-things_eeg_2-vit_b_32; accepted: \['channels', 'timepoints'\]",
         lambda c: c.load(EEG, selection={"roi": "V1"})),
    # ---- devices ----------------------------------------------------------------------------------------
    Case("device that does not exist", InvalidParameterError, r"device='tpu' is not a device; expected 'auto', 'cpu', 'cuda' or 'cuda:N'",
         lambda c: c.berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="tpu")),
    Case("device of the wrong type", InvalidParameterError, r"device must be a string such as 'auto', 'cpu' or 'cuda', got int",
         lambda c: c.berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device=0)),
    Case("torch device berg does not run on", InvalidParameterError, r"device='meta' is not supported; expected 'auto', 'cpu', 'cuda' or 'cuda:N'",
         lambda c: c.berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="meta")),
    Case("CUDA device that is not there", InvalidParameterError,
         r"device='cuda:99' (was asked for, but CUDA is not available here|: there are only \d+ CUDA device)",
         lambda c: c.berg.get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cuda:99")),
    # ---- encode parameters --------------------------------------------------------------------------------
    Case("batch size zero", InvalidParameterError, r"batch_size must be a positive integer or None, got 0",
         lambda c: c.encode(c.pixels(), batch_size=0)),
    Case("batch size as text", InvalidParameterError, r"batch_size must be a positive integer or None, got '8'",
         lambda c: c.encode(c.pixels(), batch_size="8")),
    Case("batch size as a float", InvalidParameterError, r"batch_size must be a positive integer or None, got 1.5",
         lambda c: c.encode(c.pixels(), batch_size=1.5)),
    Case("unknown precision", InvalidParameterError, r"precision must be one of \['fp32', 'bf16', 'fp16'\], got 'int8'",
         lambda c: c.encode(c.pixels(), precision="int8")),
    Case("unknown encode option", InvalidParameterError, r"unknown encode option\(s\) \['average'\] for fmri-nsd-fwrf; accepted: none",
         lambda c: c.encode(c.pixels(), average=True)),
    Case("a model id instead of a model", InvalidParameterError, r"model must be an encoding model from BERG.get_encoding_model .*got str",
         lambda c: c.berg.encode(FWRF, c.pixels())),
    Case("an empty list of models", InvalidParameterError, r"encode got an empty list of models; expected at least one model",
         lambda c: c.berg.encode([], c.pixels())),
    Case("a model after cleanup()", InvalidParameterError, r"fmri-nsd-fwrf \(subject 1\) was cleaned up; load it again to encode",
         lambda c: _cleaned(c)),
    Case("client without a store", InvalidParameterError, r"encode\(client=\.\.\.\) writes to a shared Zarr store: pass store=",
         lambda c: c.encode(c.pixels(), client=object())),
    # ---- store locations: berg_dir ---------------------------------------------------------------------------
    Case("berg_dir of the wrong type", StoreError, r"berg_dir must be a path or URL string, got int: 5",
         lambda c: BERG(5)),
    Case("berg_dir empty", StoreError, r"berg_dir is '', an empty string; expected a folder path or a URL such as s3://",
         lambda c: BERG("")),
    Case("berg_dir with an unknown protocol", StoreError, r"cannot open store 'nosuchfs://bucket/x'",
         lambda c: BERG("nosuchfs://bucket/x")),
    Case("storage_options that are not a dict", StoreError, r"storage_options must be a dict of fsspec options, got str",
         lambda c: BERG(c.tmp, storage_options="anon")),
    Case("berg_dir that is not a BERG store", StoreError,
         r"missing file in store: .*no_images/encoding_models/.*is berg_dir the root of a BERG store",
         lambda c: BERG(c.no_images).get_encoding_model(FWRF, subject=1, selection={"roi": "V1"}, device="cpu")),
    Case("metadata of a per-ROI model without roi", InvalidParameterError, r"fmri-nsd-fwrf metadata is per ROI: pass roi=\.\.\., one of \['V1'",
         lambda c: c.berg.get_model_metadata(FWRF, subject=1)),
    # ---- store locations: encode(store=...) -----------------------------------------------------------------
    Case("store of the wrong type", InvalidParameterError, r"store must be a local path or an fsspec URL such as s3://bucket/run.zarr, got 3",
         lambda c: c.encode(c.pixels(), store=3)),
    Case("store empty", InvalidParameterError, r"store must be a local path or an fsspec URL .*, got ''",
         lambda c: c.encode(c.pixels(), store="")),
    Case("store with an unknown protocol", StoreError, r"cannot open nosuchfs://bucket/run.zarr: Protocol not known: nosuchfs",
         lambda c: c.encode(c.pixels(), store="nosuchfs://bucket/run.zarr")),
    Case("store below a regular file", StoreError, r"cannot write to .*a_file/run.zarr: (FileExistsError|NotADirectoryError)",
         lambda c: c.encode(c.pixels(), store=c.a_file / "run.zarr")),
    Case("store holding something that is not a berg result", StoreError, r"other.zarr already holds files berg did not write \('zarr.json'\).*never deletes other files",
         lambda c: c.encode(c.pixels(), store=c.zarr_group)),
]


def _cleaned(c: Ctx) -> Any:
    model = c.load(FWRF, selection={"roi": "FFA-1"})
    model.cleanup()
    return c.berg.encode(model, c.pixels(), show_progress=False)


def test_the_catalogue_is_long_and_its_entries_distinct() -> None:
    assert len(API_CASES) + len(CLI_CASES) >= 40
    names = [c.what for c in API_CASES] + [c.what for c in CLI_CASES]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", API_CASES, ids=[c.what for c in API_CASES])
def test_api(case: Case, ctx: Ctx) -> None:
    with pytest.raises(BERGError) as err:
        case.call(ctx)
    assert type(err.value) is case.error, f"{case.what}: {type(err.value).__name__}: {err.value}"
    assert re.search(case.message, str(err.value), re.S), f"{case.what}: message was {err.value}"


def test_a_bad_parameter_leaves_no_output_behind(ctx: Ctx) -> None:
    """Parameters are checked before the result store is touched."""
    for kw in ({"precision": "int8"}, {"batch_size": 0}, {"unknown": 1}):
        target = ctx.tmp / f"untouched-{next(iter(kw))}.zarr"
        with pytest.raises(InvalidParameterError):
            ctx.encode(ctx.pixels(), store=target, **kw)
        assert not target.exists() and not Path(f"{target}.lock").exists()


# ---- the command line ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliCase:
    what: str
    argv: Callable[[str, str, str], list[str]]  # (store, images, out) -> arguments after 'berg'
    message: str


def _enc(*extra: str, model: str = FWRF, roi: str | None = "V1") -> Callable[[str, str, str], list[str]]:
    def argv(store: str, images: str, out: str) -> list[str]:
        base = ["encode", model, images, "-o", out, "--berg-dir", store, "--device", "cpu", "--no-progress"]
        return base + (["--roi", roi] if roi else []) + list(extra)

    return argv


CLI_CASES = [
    CliCase("cli: unknown model", lambda s, i, o: ["encode", "nope-model", i, "-o", o, "--subject", "1", "--berg-dir", s],
            r"unknown model 'nope-model'\..*Available models: "),
    CliCase("cli: no --subject", _enc(), r"--subject is required; valid subjects: \{'fmri-nsd-fwrf': \[1, 2, 3, 4, 5, 6, 7, 8\]\}"),
    CliCase("cli: subject out of range", _enc("--subject", "12"), r"subject\(s\) \[12\] are not available for fmri-nsd-fwrf; valid subjects: \[1,"),
    CliCase("cli: subject that is not a number", _enc("--subject", "one"),
            r"subject\(s\) \['one'\] are not available for fmri-nsd-fwrf; valid subjects: \[1, 2, 3, 4, 5, 6, 7, 8\]"),
    CliCase("cli: subject that is not a name", _enc("--subject", "o n e"),
            r"subjects must be integers or names \(letters, digits, '_', '.', '-'\) separated by commas \(e.g. 1,2 or N,F\), got 'o n e'"),
    CliCase("cli: unknown ROI", _enc("--subject", "1", roi="V9"), r"unknown ROI 'V9' for fmri-nsd-fwrf\..*Valid ROIs: \['V1'"),
    CliCase("cli: --channels on an fMRI model", _enc("--subject", "1", "--channels", "Oz"),
            r"--channels does not apply to fmri-nsd-fwrf; its selection keys are \['roi'\]"),
    CliCase("cli: unknown EEG channel", _enc("--subject", "1", "--channels", "Oz,XY1", model=EEG, roi=None),
            r"unknown channel 'XY1' for eeg-things_eeg_2-vit_b_32\. Valid channels: \['Fp1'"),
    CliCase("cli: bad device", _enc("--subject", "1", "--device", "tpu"), r"device='tpu' is not a device; expected 'auto', 'cpu', 'cuda'"),
    CliCase("cli: batch size zero", _enc("--subject", "1", "--batch-size", "0"), r"expected a positive integer, got '0'"),
    CliCase("cli: unknown precision", _enc("--subject", "1", "--precision", "int8"),
            r"invalid choice: 'int8' \(choose from '?fp32'?, '?bf16'?, '?fp16'?\)"),
    CliCase("cli: stimuli that do not exist", lambda s, i, o: _enc("--subject", "1")(s, f"{i}/nothing-here", o),
            r"nothing-here' does not exist; expected an image file or a folder of images"),
    CliCase("cli: a folder without images", lambda s, i, o: _enc("--subject", "1")(s, f"{i}/../empty", o),
            r"empty' holds no image files; expected files ending in \.jpg"),
    CliCase("cli: unknown store protocol", lambda s, i, o: _enc("--subject", "1")("nosuchfs://x", i, o),
            r"cannot open store 'nosuchfs://x'"),
    CliCase("cli: output with an unknown protocol", lambda s, i, o: _enc("--subject", "1")(s, i, "nosuchfs://bucket/run.zarr"),
            r"cannot open nosuchfs://bucket/run.zarr: Protocol not known: nosuchfs"),
]


@pytest.fixture(scope="module")
def cli_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("cli")
    (base / "empty").mkdir()
    return write_images(base / "images", 2), base


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.what for c in CLI_CASES])
def test_cli(case: CliCase, store_root: Path, cli_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    images, base = cli_dirs
    out = base / f"out-{abs(hash(case.what))}.zarr"
    try:
        code = main(case.argv(str(store_root), str(images), str(out)))
    except SystemExit as exc:  # argparse rejects malformed values before berg runs
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, f"{case.what}: exit {code}, stderr {err}"
    assert re.search(case.message, err, re.S), f"{case.what}: stderr was {err}"
    assert err.startswith(("berg encode: error:", "usage: berg encode")), err
    assert not out.exists() and not os.path.exists(f"{out}.lock")
