"""The plugin SDK: everything a berg plugin imports from core, in one place.

A plugin imports only ``berg_core`` (its public names) and ``berg_core.plugin``;
its tests add :mod:`berg_core.testing`. Everything else in ``berg_core`` is
internal and may move between releases; the names below do not.

Importing this module is cheap: each name is imported on first use, so a
plugin's hook module can import what it needs at top level and still keep
``berg models`` free of torch, as long as torch-backed names (model classes,
backbones, read-outs, transforms, checkpoints) are imported inside the
``berg_load_model`` hook or in modules that hook imports.

Start a plugin with ``berg new-plugin DIST_NAME --output DIR``: it writes a
complete distribution built on these names.

Groups of names
---------------
Hooks
    ``hookimpl`` marks hook implementations (see ``specs/hooks.md``);
    ``ENTRY_POINT_GROUP`` is the entry-point group plugins register under.
Cards
    ``ModelCard`` and its parts, ``cards_in(folder)`` to read a plugin's
    shipped YAML cards, ``card_from_dict`` to validate a mapping.
Models
    ``EncodingModel`` is the base class of every loaded model;
    ``BackboneReadout`` the base of models that read out a shared backbone's
    features with the backbone's own input transform (preprocessing and one
    backbone pass per batch are shared); ``ViTB32Readout`` and
    ``AlexNetReadout`` read ViT-B/32's and AlexNet's (trained or untrained).
Loading
    ``LoadRequest`` is what ``berg_load_model`` receives (card, subject,
    selection, store, device, options); ``request.backbone()`` gives the
    shared extractor the card names. ``DemoSettings`` is what
    ``berg_demo_settings`` returns.
Converting stores
    ``ConvertPlan`` is what ``berg_convert_plan`` returns: how ``berg convert``
    groups and chunks a weights file's regression rows; ``roi_row_groups``
    turns region index lists into row groups that keep each region's rows together.
Backbones
    ``BackboneSpec`` declares a feature extractor a plugin contributes
    (``berg_backbones`` hook): its builder, layers, weights file and seeded
    synthetic copy. Core contributes ViT-B/32: ``get_vit_b_32(device,
    weights=None, store=None)`` returns it; ``VIT_B_32_N_FEATURES`` is its
    feature count, ``VIT_B_32_STORE_PATH`` where its weights live in a store;
    ``ALEXNET_N_FEATURES`` / ``ALEXNET_STORE_PATH`` the same for AlexNet (its
    untrained twin, ``alexnet_untrained``, is built from BERG 2.0's seed, no file).
Weights and stores
    ``Store`` reads files of a BERG store (local or fsspec URL);
    ``first_weight_file`` picks the first of several documented file names the store holds;
    ``open_weight_file`` opens a weight file in either format (BERG 2.0's
    pickled ``.npy`` dict or berg's Zarr layout) as a ``WeightFile``;
    ``read_folded_projection`` reads the scaler and PCA folded into one
    projection; ``read_metadata`` reads a metadata file; ``TorchCheckpoint``
    reads a ``.pt`` checkpoint without unpickling code.
Read-outs
    ``FoldedProjection`` (standardise + PCA as one matrix product) and
    ``RegressionHeads`` (linear heads), the torch modules of a linear read-out;
    ``fold_scaler_pca`` folds the arrays themselves.
Stimuli and transforms
    ``Stimuli`` is the validated batch of images handed to ``preprocess``;
    ``VideoStimuli`` (``clips()``, ``frame_rates()``), ``SentenceStimuli``
    (``texts()``) and ``TimedWordStimuli`` (``stories()`` of ``TimedWords``) are
    those of the other kinds a card's ``stimuli:`` may declare (``STIMULUS_KINDS``);
    ``timed_words`` builds a checked story, ``read_video`` decodes a video file;
    ``square_crop_resize``, ``berg2_imagenet_transform``,
    ``berg2_squash_resize``, ``IMAGENET_MEAN``/``IMAGENET_STD`` prepare it;
    ``to_device`` moves the prepared batch to the model's device (through pinned
    memory, without waiting, on CUDA).
Results and plots
    ``EncodingModel.base_attrs()`` gives the attrs every result carries;
    ``batch_array`` labels a batch result without copying its coordinates;
    ``result_model_id(result)`` reads back which model made a result;
    ``SYNTHETIC_ATTR`` marks results of synthetic weights. ``new_figure``,
    ``finish_figure``, ``check_plot_options``, ``describe_result``,
    ``pick_stimuli``, ``reliable_units``, ``symmetric_limit``, ``topomap_times`` and
    ``COMMON_OPTIONS`` give every plugin's plots the same look and options.
    ``to_mne_arrays`` turns ``(stimulus, group, unit, time)`` values into MNE
    epochs or evoked data (``even_sampling_frequency`` checks the times; MNE is
    imported on call, a dependency of the plugins that use it).
    ``volume_affine``, ``volume_shape``, ``voxel_indices``, ``volume_mask``
    and ``volume_values`` read and scatter volume results (``i``/``j``/``k``
    voxel coords, ``affine`` and ``volume_shape`` attrs).
Synthetic stores
    ``write_synthetic_store`` writes a store of seeded random weights through
    each plugin's ``berg_write_synthetic_store`` hook (plus the backbone);
    ``write_synthetic_backbone`` writes only the backbone; ``backbone_spec(name)``
    gives an installed backbone's spec (e.g. the width of its seeded copy).
    ``dump_sklearn_pickle`` writes, and ``load_sklearn_pickle`` reads without
    running anything, pickles of fitted sklearn estimators (``SklearnEstimator``).
Parameters and selections
    Core checks what a card declares (subject, options, selection keys, their
    ``kind`` and conflicts) before a plugin is called. To map a checked
    selection onto a model's data use the primitives core checks with:
    ``select_names``/``name_indices`` (names from a set, or a union of named
    groups), ``mask_indices``, ``index_list``, ``mask_or_indices``,
    ``grid_indices`` (coordinates, masks or slices on a grid such as EEG
    times) and ``first_listed_wins`` (overlapping groups). ``check_options``
    refuses unknown options of a plugin's own hooks (export, synthetic store)
    in the same words; ``did_you_mean`` suggests the closest valid name.
Errors
    Every error a user can cause is a ``BERGError``: ``InvalidParameterError``
    (bad subject, selection or option; list the valid values),
    ``IntegrityError`` (a weight file is not what the card says),
    ``StoreError`` (a file cannot be read), ``ModelLoadError``, ``CardError``,
    ``PluginError``, ``StimulusError``, ``ModelNotFoundError``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from berg_core.errors import (
    BERGError,
    CardError,
    IntegrityError,
    InvalidParameterError,
    ModelLoadError,
    ModelNotFoundError,
    PluginError,
    StimulusError,
    StoreError,
)
from berg_core.registry.hookspecs import ENTRY_POINT_GROUP, hookimpl

if TYPE_CHECKING:  # the lazy names, for type checkers and IDEs
    from berg_core.backbones import (
        ALEXNET_N_FEATURES,
        ALEXNET_STORE_PATH,
        VIT_B_32_N_FEATURES,
        VIT_B_32_STORE_PATH,
        get_vit_b_32,
    )
    from berg_core.backbones.spec import BackboneSpec
    from berg_core.backbones.vit_readout import AlexNetReadout, BackboneReadout, ViTB32Readout
    from berg_core.cards.enforce import check_options, did_you_mean
    from berg_core.cards.model_card import (
        Dimension,
        Grid,
        ModelCard,
        Parameter,
        SelectionKey,
        TensorSpec,
        card_from_dict,
        cards_in,
    )
    from berg_core.cards.numbers import check_int
    from berg_core.io.sklearn_pickle import SklearnEstimator, dump_sklearn_pickle, load_sklearn_pickle
    from berg_core.io.torch_checkpoint import TorchCheckpoint
    from berg_core.models.base import EncodingModel
    from berg_core.models.device import to_device
    from berg_core.models.folded_heads import FoldedHeads, load_folded_heads, read_regression_rows
    from berg_core.models.readout import FoldedProjection, RegressionHeads, fold_scaler_pca
    from berg_core.models.selection import (
        first_listed_wins,
        grid_indices,
        index_list,
        mask_indices,
        mask_or_indices,
        name_indices,
        select_names,
    )
    from berg_core.models.weights import (
        WeightFile,
        first_weight_file,
        metadata_entry,
        open_weight_file,
        read_folded_projection,
        read_metadata,
    )
    from berg_core.registry.request import ConvertPlan, DemoSettings, LoadRequest
    from berg_core.results.batch_array import batch_array
    from berg_core.results.checks import check_result
    from berg_core.results.mne_arrays import even_sampling_frequency, to_mne_arrays
    from berg_core.results.plotting import (
        COMMON_OPTIONS,
        SYNTHETIC_ATTR,
        check_plot_options,
        describe_result,
        finish_figure,
        finish_plot,
        new_figure,
        pick_stimuli,
        reliable_units,
        symmetric_limit,
        topomap_times,
    )
    from berg_core.stimuli.inputs import Stimuli
    from berg_core.stimuli.kinds import STIMULUS_KINDS
    from berg_core.stimuli.sentences import SentenceStimuli
    from berg_core.stimuli.timed_words import TimedWords, TimedWordStimuli, timed_words
    from berg_core.stimuli.transforms import (
        IMAGENET_MEAN,
        IMAGENET_STD,
        berg2_imagenet_transform,
        berg2_squash_resize,
        square_crop_resize,
    )
    from berg_core.stimuli.video import VideoStimuli, read_video
    from berg_core.store.model_store import Store
    from berg_core.store.output_files import make_folder, output_errors, write_atomically
    from berg_core.store.zarr_layout import roi_row_groups
    from berg_core.workflows.backbone_lookup import backbone_spec
    from berg_core.workflows.sklearn_dicts import save_npy_dict, seeded_rng, sklearn_readout_weights
    from berg_core.workflows.synthetic import write_synthetic_backbone, write_synthetic_store

#: name -> module (relative to berg_core) it is imported from on first use
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        ["ModelCard", "Dimension", "Grid", "Parameter", "SelectionKey", "TensorSpec", "cards_in", "card_from_dict"],
        "cards.model_card",
    ),
    **dict.fromkeys(["check_options", "did_you_mean"], "cards.enforce"),
    **dict.fromkeys(
        ["first_listed_wins", "grid_indices", "index_list", "mask_indices", "mask_or_indices", "name_indices",
         "select_names"],
        "models.selection",
    ),
    "EncodingModel": "models.base",
    "to_device": "models.device",
    **dict.fromkeys(["LoadRequest", "DemoSettings", "ConvertPlan"], "registry.request"),
    "BackboneSpec": "backbones.spec",
    **dict.fromkeys(["AlexNetReadout", "BackboneReadout", "ViTB32Readout"], "backbones.vit_readout"),
    **dict.fromkeys(["get_vit_b_32", "VIT_B_32_N_FEATURES", "VIT_B_32_STORE_PATH", "ALEXNET_N_FEATURES",
                     "ALEXNET_STORE_PATH"], "backbones"),
    "Store": "store.model_store",
    **dict.fromkeys(["WeightFile", "first_weight_file", "metadata_entry", "open_weight_file", "read_folded_projection",
                     "read_metadata"], "models.weights"),
    "TorchCheckpoint": "io.torch_checkpoint",
    **dict.fromkeys(["FoldedProjection", "RegressionHeads", "fold_scaler_pca"], "models.readout"),
    **dict.fromkeys(["FoldedHeads", "load_folded_heads", "read_regression_rows"], "models.folded_heads"),
    "check_int": "cards.numbers",
    "check_result": "results.checks",
    **dict.fromkeys(["even_sampling_frequency", "to_mne_arrays"], "results.mne_arrays"),
    "batch_array": "results.batch_array",
    **dict.fromkeys(["volume_affine", "volume_mask", "volume_shape", "volume_values", "voxel_indices"], "results.volume"),
    "Stimuli": "stimuli.inputs",
    "STIMULUS_KINDS": "stimuli.kinds",
    "SentenceStimuli": "stimuli.sentences",
    **dict.fromkeys(["TimedWords", "TimedWordStimuli", "timed_words"], "stimuli.timed_words"),
    **dict.fromkeys(["VideoStimuli", "read_video"], "stimuli.video"),
    **dict.fromkeys(
        ["IMAGENET_MEAN", "IMAGENET_STD", "berg2_imagenet_transform", "berg2_squash_resize", "square_crop_resize"],
        "stimuli.transforms",
    ),
    **dict.fromkeys(
        ["COMMON_OPTIONS", "SYNTHETIC_ATTR", "check_plot_options", "describe_result", "finish_figure", "finish_plot", "new_figure",
         "pick_stimuli", "reliable_units", "symmetric_limit", "topomap_times"],
        "results.plotting",
    ),
    **dict.fromkeys(["write_synthetic_store", "write_synthetic_backbone"], "workflows.synthetic"),
    "backbone_spec": "workflows.backbone_lookup",
    **dict.fromkeys(["SklearnEstimator", "dump_sklearn_pickle", "load_sklearn_pickle"], "io.sklearn_pickle"),
    **dict.fromkeys(["save_npy_dict", "seeded_rng", "sklearn_readout_weights"], "workflows.sklearn_dicts"),
    **dict.fromkeys(["make_folder", "output_errors", "write_atomically"], "store.output_files"),
    "roi_row_groups": "store.zarr_layout",
}

__all__ = [
    "ALEXNET_N_FEATURES",
    "ALEXNET_STORE_PATH",
    "AlexNetReadout",
    "BackboneReadout",
    "BackboneSpec",
    "backbone_spec",
    "batch_array",
    "berg2_imagenet_transform",
    "berg2_squash_resize",
    "BERGError",
    "card_from_dict",
    "CardError",
    "cards_in",
    "check_int",
    "check_options",
    "check_plot_options",
    "check_result",
    "COMMON_OPTIONS",
    "ConvertPlan",
    "DemoSettings",
    "describe_result",
    "did_you_mean",
    "dump_sklearn_pickle",
    "Dimension",
    "EncodingModel",
    "ENTRY_POINT_GROUP",
    "even_sampling_frequency",
    "finish_figure",
    "finish_plot",
    "first_listed_wins",
    "first_weight_file",
    "fold_scaler_pca",
    "FoldedHeads",
    "FoldedProjection",
    "get_vit_b_32",
    "Grid",
    "grid_indices",
    "hookimpl",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "index_list",
    "IntegrityError",
    "InvalidParameterError",
    "load_folded_heads",
    "load_sklearn_pickle",
    "LoadRequest",
    "make_folder",
    "mask_indices",
    "mask_or_indices",
    "metadata_entry",
    "ModelCard",
    "ModelLoadError",
    "ModelNotFoundError",
    "name_indices",
    "new_figure",
    "open_weight_file",
    "output_errors",
    "Parameter",
    "pick_stimuli",
    "PluginError",
    "read_folded_projection",
    "read_metadata",
    "read_regression_rows",
    "read_video",
    "RegressionHeads",
    "reliable_units",
    "result_model_id",
    "roi_row_groups",
    "save_npy_dict",
    "seeded_rng",
    "select_names",
    "SelectionKey",
    "SentenceStimuli",
    "SklearnEstimator",
    "sklearn_readout_weights",
    "square_crop_resize",
    "Stimuli",
    "STIMULUS_KINDS",
    "StimulusError",
    "Store",
    "StoreError",
    "symmetric_limit",
    "SYNTHETIC_ATTR",
    "TensorSpec",
    "timed_words",
    "TimedWords",
    "TimedWordStimuli",
    "to_device",
    "to_mne_arrays",
    "topomap_times",
    "TorchCheckpoint",
    "VideoStimuli",
    "VIT_B_32_N_FEATURES",
    "VIT_B_32_STORE_PATH",
    "ViTB32Readout",
    "WeightFile",
    "write_atomically",
    "write_synthetic_backbone",
    "write_synthetic_store",
    "volume_affine",
    "volume_mask",
    "volume_shape",
    "volume_values",
    "voxel_indices",
]


def result_model_id(result: Any) -> str | None:
    """The id of the model that made ``result`` (``attrs["model_id"]``), or ``None`` for anything else.

    Core hands a result only to the plugin owning its model; a plugin with several models uses
    it to tell which of them made the result.
    """
    attrs = getattr(result, "attrs", None)
    model_id = attrs.get("model_id") if isinstance(attrs, dict) else None
    return model_id if isinstance(model_id, str) else None


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'berg_core.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"berg_core.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return list(__all__)
