"""Where models come from: the public bucket, ``$BERG_DIR``, any fsspec URL and its configuration."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import fsspec.config
import pytest

from berg_core import BERG, StoreError
from berg_core.cli.main import main
from berg_core.store.model_store import DEFAULT_STORE_URL, Store, resolve_store

from .conftest import FSAVERAGE, s3_options


def test_default_is_the_public_bucket_read_anonymously(monkeypatch: pytest.MonkeyPatch) -> None:
    # only the resolved location is checked: nothing connects to AWS
    monkeypatch.delenv("BERG_DIR", raising=False)
    berg = BERG()
    assert berg.berg_dir == DEFAULT_STORE_URL
    assert berg.store.storage_options == {"anon": True}
    assert berg.store.fs.protocol[0] == "s3" and berg.store.fs.anon is True
    assert resolve_store(DEFAULT_STORE_URL, {"anon": False}).storage_options == {"anon": False}


@pytest.mark.parametrize(
    "value, message",
    [
        ("", r"\$BERG_DIR is set to '', a blank string; expected the folder of a BERG store .* or an fsspec URL.*Unset it"),
        (" ", r"\$BERG_DIR is set to ' ', a blank string"),
        ("\t\n", r"\$BERG_DIR is set to '\\t\\n', a blank string"),
        ("{file}", r"\$BERG_DIR is set to '{file}', which is a file; expected the folder of a BERG store"),
        ("file://{file}", r"which is a file"),
        ("{missing}", r"\$BERG_DIR is set to '{missing}', which does not exist; expected the folder"),
        ("{root} ", r"which does not exist"),  # a stray space is not the folder
    ],
)
def test_bad_berg_dir_env(value: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models.tar").write_bytes(b"not a folder")
    names = {"file": str(tmp_path / "models.tar"), "missing": str(tmp_path / "nowhere"), "root": str(tmp_path)}
    monkeypatch.setenv("BERG_DIR", value.format(**names))
    with pytest.raises(StoreError, match=message.format(**{k: re.escape(v) for k, v in names.items()})):
        BERG()
    assert resolve_store(str(tmp_path)).url == str(tmp_path)  # an explicit berg_dir does not read $BERG_DIR


def test_bad_berg_dir_env_on_the_command_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BERG_DIR", " ")
    assert main(["download", FSAVERAGE, "--subject", "1", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "$BERG_DIR is set to ' ', a blank string" in err[0]


def test_berg_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "store.zip").write_bytes(b"PK")
    with pytest.raises(StoreError, match=f"berg_dir {re.escape(repr(str(tmp_path / 'store.zip')))} is a file; expected the folder"):
        BERG(tmp_path / "store.zip")


def test_berg_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, legacy_root: Path) -> None:
    monkeypatch.setenv("BERG_DIR", str(legacy_root))
    berg = BERG()
    assert berg.berg_dir == str(legacy_root) and berg.store.is_local and berg.store.cache is None
    assert berg.get_model_metadata(FSAVERAGE, subject=1)["encoding_models"]["test_img_num"] > 0


def test_storage_options_reach_fsspec(s3: Any, s3_stores: dict[str, str]) -> None:
    berg = BERG(s3_stores["legacy"], storage_options=s3_options(s3))
    assert berg.store.fs.storage_options["endpoint_url"] == s3.endpoint
    assert berg.store.endpoint == s3.endpoint
    assert "fmri" in berg.get_model_metadata(FSAVERAGE, subject=1)


def test_fsspec_environment_configuration_is_honoured(s3: Any, s3_stores: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("FSSPEC_S3_ANON", "true")
    monkeypatch.setenv("FSSPEC_S3_SKIP_INSTANCE_CACHE", "true")
    conf: dict[str, Any] = {}
    fsspec.config.set_conf_env(conf)  # what fsspec does when imported, read again after setting the variables
    monkeypatch.setattr(fsspec.config, "conf", conf)
    berg = BERG(s3_stores["legacy"])  # no storage_options at all
    assert berg.store.endpoint == s3.endpoint
    assert "fmri" in berg.get_model_metadata(FSAVERAGE, subject=1)
    assert s3.requests() > 0


@pytest.mark.parametrize(
    "berg_dir, options, message",
    [
        (123, None, "berg_dir must be a path or URL string, got int"),
        ("", None, "empty string"),
        ("  ", None, "berg_dir is '  ', a blank string"),
        ("nosuchprotocol://bucket", None, "cannot open store"),
        ("/tmp", "anon", "storage_options must be a dict"),
    ],
)
def test_bad_locations(berg_dir: Any, options: Any, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        BERG(berg_dir, storage_options=options)


def test_missing_files_name_the_url(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    with pytest.raises(StoreError, match=f"missing file in store: {tmp_path}/encoding_models/x.npy.*holds 'encoding_models/'"):
        store.open("encoding_models/x.npy")
    with pytest.raises(StoreError, match="must stay inside the store"):
        store.open("../etc/passwd")
    with pytest.raises(StoreError, match=str(tmp_path)):
        BERG(str(tmp_path)).get_model_metadata(FSAVERAGE, subject=1)


def test_unreachable_server_is_a_store_error(s3: Any, s3_stores: dict[str, str]) -> None:
    s3.stop()
    with pytest.raises(StoreError, match=s3_stores["legacy"]):
        BERG(s3_stores["legacy"], storage_options=s3_options(s3)).get_model_metadata(FSAVERAGE, subject=1)
