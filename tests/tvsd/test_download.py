"""``berg download --subject F`` fetches only monkey F's files (named monkeyF), every training split."""

from __future__ import annotations

from pathlib import Path

from .conftest import write_store
from .reference import MODEL_DIR, MODEL_ID


def test_download_fetches_only_the_monkeys_files(tmp_path: Path, plugin_manager):
    from berg_core.workflows.download import download_model

    src = tmp_path / "src"
    write_store(plugin_manager, src, ["N", "F"], n_components=2, train_splits=["all", "single"])
    report = download_model(MODEL_ID, subjects=["F"], dest=tmp_path / "dest", berg_dir=str(src),
                            show_progress=False, plugin_manager=plugin_manager)
    names = sorted(Path(p).name for p in report.files)
    assert names == sorted(["metadata_monkeyF.npy", "weights_monkeyF_all_training_splits.npy",
                            *(f"weights_monkeyF_single_training_split_{k}.npy" for k in range(1, 5))])
    assert (tmp_path / "dest" / MODEL_DIR / "metadata" / "metadata_monkeyF.npy").is_file()
