"""``berg encode``: encode stimuli with one or more models into a Zarr store."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..errors import InvalidParameterError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _subjects(text: str) -> list[int]:
    out = []
    for t in _csv(text):
        if not t.isdigit():
            raise argparse.ArgumentTypeError(f"subjects must be integers separated by commas (e.g. 1,2), got {text!r}")
        out.append(int(t))
    return out


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "encode",
        help="encode stimuli with one or more models into a Zarr store",
        description=(
            "Encode stimuli (an image folder, a glob pattern in quotes, image files, or a Zarr array of shape "
            "(N, 3, H, W)) with one or more models and subjects, in one pass over the stimuli, writing the results "
            "to a Zarr store batch by batch. Re-running the same command resumes an interrupted run."
        ),
        epilog="example: berg encode eeg-things_eeg_2-vit_b_32,fmri-nsd_fsaverage-vit_b_32 --subject 1,2 images/ -o out.zarr",
    )
    p.add_argument("models", type=_csv, help="model id(s), comma-separated (see 'berg models')")
    p.add_argument("stimuli", nargs="+", help="image folder, image files, a quoted glob pattern, or a .zarr array")
    p.add_argument("-o", "--output", required=True, help="output Zarr store (local path or fsspec URL such as s3://bucket/run.zarr)")
    p.add_argument("--subject", type=_subjects, default=None, help="subject(s), comma-separated, e.g. 1,2 (required)")
    p.add_argument("--roi", type=_csv, default=None, help="ROI(s) for models with ROI selection; several give their union")
    p.add_argument("--channels", type=_csv, default=None, help="EEG channel names for models with channel selection")
    p.add_argument("--berg-dir", default=None, help="model store (default: $BERG_DIR, else the public BERG bucket)")
    p.add_argument("--batch-size", type=_positive, default=None, help="images per batch (default: the models' default)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--preprocessing", default=None, help="train (default) or berg-2.0")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="backbone precision (default fp32)")
    p.add_argument("--backbone-weights", default=None, help="path of vit_b_32-d86f8d99.pth")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (tcp://host:8786), or 'local' / 'local:N' for N local workers")
    p.add_argument("--overwrite", action="store_true", help="replace a complete result at the output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def plan(args: argparse.Namespace, berg: Any) -> list[dict[str, Any]]:
    """Check every argument against the model cards, before any work; one request per model and subject."""
    if args.subject is None:
        valid = {m: berg.get_card(m).subjects for m in args.models}
        raise InvalidParameterError(f"--subject is required; valid subjects: {valid}")
    requests = []
    for model_id in args.models:
        card = berg.get_card(model_id)
        keys = {k.name for k in card.selection_keys}
        selection: dict[str, Any] = {}
        for flag, key, values in (("--roi", "roi", args.roi), ("--channels", "channels", args.channels)):
            if values is None:
                continue
            if key not in keys:
                raise InvalidParameterError(f"{flag} does not apply to {model_id}; its selection keys are {sorted(keys)}")
            selection[key] = values[0] if key == "roi" and len(values) == 1 else values
        bad = [s for s in args.subject if s not in card.subjects]
        if bad:
            raise InvalidParameterError(f"subject(s) {bad} are not available for {model_id}; valid subjects: {card.subjects}")
        options = {k: v for k, v in (("preprocessing", args.preprocessing), ("backbone_weights", args.backbone_weights)) if v is not None}
        for s in args.subject:
            requests.append({"model_id": model_id, "subject": s, "selection": selection or None, "options": options})
    return requests


def _client(spec: str | None) -> Any:
    if spec is None:
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InvalidParameterError(
            "--scheduler needs Dask's distributed scheduler: pip install 'berg-core[distributed]'"
        ) from None

    if spec == "local" or spec.startswith("local:"):
        n = int(spec.split(":", 1)[1]) if ":" in spec else 2
        return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None))
    return Client(spec)


def run(args: argparse.Namespace) -> int:
    from ..api import BERG
    from ..device import resolve_device
    from ..stimuli import as_stimuli

    berg = BERG(args.berg_dir)
    requests = plan(args, berg)
    resolve_device(args.device)
    stimuli = as_stimuli(args.stimuli[0] if len(args.stimuli) == 1 else args.stimuli)
    client = _client(args.scheduler)
    models = [
        berg.get_encoding_model(r["model_id"], subject=r["subject"], selection=r["selection"], device=args.device, **r["options"])
        for r in requests
    ]
    t0 = time.perf_counter()
    try:
        out = berg.encode(
            models if len(models) > 1 else models[0], stimuli, show_progress=not args.no_progress,
            batch_size=args.batch_size, precision=args.precision, store=args.output, overwrite=args.overwrite, client=client,
        )
    finally:
        if client is not None:
            client.close()
    elapsed = time.perf_counter() - t0
    results = out if isinstance(out, dict) else {requests[0]["model_id"]: out}
    print(f"encoded {len(stimuli)} stimuli with {len(models)} model(s) in {elapsed:.1f} s ({len(stimuli) / elapsed:.2f} images/s)")
    for label, da in results.items():
        dims = ", ".join(f"{d}={n}" for d, n in da.sizes.items())
        print(f"  {label}: ({dims}) {da.attrs.get('units', '')}")
    print(f"written to {args.output} (open with xarray.open_zarr{'' if len(models) == 1 else ', group=LABEL'})")
    return 0
