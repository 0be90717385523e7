"""``berg download`` fetches one subject's files of the THINGS-fMRI1 model (named sub-SS)."""

from __future__ import annotations

from pathlib import Path

from .reference import MODEL_DIR, MODEL_ID


def test_download_fetches_only_the_subjects_files(tmp_path: Path, plugin_manager, store_root):
    from berg_core.workflows.download import download_model

    report = download_model(MODEL_ID, subjects=[2], dest=tmp_path / "dest", berg_dir=str(store_root),
                            show_progress=False, plugin_manager=plugin_manager)
    names = sorted(Path(p).name for p in report.files)
    assert names == ["metadata_sub-02.npy", "weights_sub-02.npy"]
    assert (tmp_path / "dest" / MODEL_DIR / "encoding_models_weights" / "weights_sub-02.npy").is_file()
