"""BOLD Moments metadata pickles nibabel Nifti1Header objects: berg's safe reader gives their binary block.

Nothing from the file is run and nibabel is not imported by the reader; a
header that is not exactly nibabel's layout (a 348-byte record, no
extensions) and record arrays anywhere else are refused.
"""

from __future__ import annotations

import pickle
import sys
from typing import Any

import numpy as np
import pytest

from berg_core import IntegrityError
from berg_core.io.safe_pickle import restricted_loads


def _header() -> Any:
    import nibabel as nib

    h = nib.Nifti1Header()
    h.set_data_shape((62, 77, 61))
    h.set_sform(np.diag([2.5, 2.5, 2.5, 1.0]), code=4)
    return h


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_header_becomes_its_binary_block(protocol: int) -> None:
    import nibabel as nib

    h = _header()
    data = pickle.dumps(np.array({"fmri": {"sub_mask_header": h, "n": np.arange(3)}}, dtype=object), protocol=protocol)
    out = restricted_loads(data)
    out = out.item() if isinstance(out, np.ndarray) else out
    block = out["fmri"]["sub_mask_header"]
    assert isinstance(block, bytes) and block == h.binaryblock
    assert nib.Nifti1Header(binaryblock=block).get_data_shape() == (62, 77, 61)


def test_reader_does_not_import_nibabel(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pickle.dumps(_header(), protocol=3)
    monkeypatch.setitem(sys.modules, "nibabel", None)  # an import would fail
    monkeypatch.setitem(sys.modules, "nibabel.nifti1", None)
    assert len(restricted_loads(data)) == 348


def test_extensions_are_refused() -> None:
    import nibabel as nib

    h = _header()
    h.extensions.append(nib.nifti1.Nifti1Extension("comment", b"hello"))
    with pytest.raises(IntegrityError, match="Nifti1Extension"):
        restricted_loads(pickle.dumps(h, protocol=3))


@pytest.mark.parametrize("protocol", [3, 5])
@pytest.mark.parametrize("arr", [np.zeros(3, dtype="V8"), np.zeros((), dtype="V348")])
def test_records_outside_a_header_are_refused(arr: np.ndarray, protocol: int) -> None:
    with pytest.raises(IntegrityError, match="record array"):
        restricted_loads(pickle.dumps({"x": arr}, protocol=protocol))


def test_tampered_headers_are_refused() -> None:
    good = pickle.dumps(_header(), protocol=3)
    # another record size, an unexpected entry in its state
    short = good.replace(b"V348", b"V340", 1)
    with pytest.raises(IntegrityError):
        restricted_loads(short)
    extra = good.replace(b"extensions", b"extensionZ", 1)
    with pytest.raises(IntegrityError, match="unexpected entries"):
        restricted_loads(extra)
