"""``berg encode``: encode stimuli with one or more models into a Zarr store."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from berg_core.cli.commands.args import (
    MAX_BATCH_SIZE,
    add_progress_flag,
    add_subject_flag,
    csv_list,
    int_in_range,
    key_value,
    model_ids,
    scheduler,
    show_progress,
)
from berg_core.cli.commands.encode_plan import Request, build_requests
from berg_core.errors import InvalidParameterError, StoreError

#: Seconds to wait for a Dask scheduler to answer before saying it is unreachable.
SCHEDULER_TIMEOUT_S = 5


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "encode",
        help="encode stimuli with one or more models into a Zarr store",
        description=(
            "Encode stimuli with one or more models and subjects, in one pass over the stimuli, "
            "writing the results to a Zarr store batch by batch. Re-running the same command resumes an interrupted "
            "run, and says so when the result is already complete. Selections and options take the "
            "[MODEL:]KEY=VALUE form of 'berg plot --option': with MODEL: they go to that model only, without it to "
            "every model whose card declares KEY (see 'berg describe MODEL'). The stimuli are read by the kind the "
            "models' cards declare (all models of one run take one kind): images (an image folder, image files, a "
            "glob pattern in quotes, a Zarr array folder of shape (N, 3, H, W), or FILE.h5:DATASET); video (a folder "
            "of videos, video files, or a uint8 (N, T, 3, H, W) array); sentences (one .txt file, one sentence per "
            "line); timed words (.tsv files with columns word and onset in seconds, one story each)."
        ),
        epilog=(
            "example: berg encode eeg-things_eeg_2-vit_b_32,fmri-nsd-fwrf --subject 1,2 "
            "--select fmri-nsd-fwrf:roi=V1 --select channels=Oz,O1 images/ -o out.zarr"
        ),
    )
    p.add_argument("models", type=model_ids, help="model id(s), comma-separated (see 'berg models')")
    p.add_argument("stimuli", nargs="+",
                   help="images: an image folder, files, a quoted glob, a .zarr array or FILE.h5:DATASET; video: a folder "
                   "of videos or video files; sentences: a .txt file; timed words: .tsv files")
    p.add_argument("--recursive", action="store_true",
                   help="encode the images (or videos) in subfolders of a stimulus folder too (ids are relative paths)")
    p.add_argument("-o", "--output", required=True, help="output Zarr store (local path or fsspec URL such as s3://bucket/run.zarr)")
    add_subject_flag(p, "required, except for participant-averaged models (cards without subjects)")
    p.add_argument("--select", action="append", type=key_value, default=[], metavar="[MODEL:]KEY=VALUE",
                   help="a selection (repeatable), e.g. fmri-nsd-fwrf:roi=V1 or channels=Oz,O1; lists comma-separated "
                   "or as JSON")
    p.add_argument("--option", action="append", type=key_value, default=[], metavar="[MODEL:]KEY=VALUE",
                   help="a model option of get_encoding_model (repeatable), e.g. preprocessing=berg-2.0")
    p.add_argument("--roi", type=csv_list, default=None,
                   help="same as --select roi=...: for every model with ROI selection; several give their union")
    p.add_argument("--channels", type=csv_list, default=None, help="same as --select channels=...: EEG channel names")
    p.add_argument("--berg-dir", default=None, help="model store (default: $BERG_DIR, else the public BERG bucket)")
    p.add_argument("--batch-size", type=int_in_range(1, MAX_BATCH_SIZE, "a positive integer"), default=None,
                   help="stimuli (images, clips, sentences or stories) per batch (default: the models' default)")
    p.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda or cuda:N")
    p.add_argument("--preprocessing", default=None, help="same as --option preprocessing=...: train (default) or berg-2.0")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="backbone precision (default fp32)")
    p.add_argument("--backbone-weights", default=None, help="same as --option backbone_weights=...: the weights file of the backbone the models' cards name (see berg describe)")
    p.add_argument("--scheduler", type=scheduler, default=None,
                   help="Dask scheduler address (tcp://host:8786), or 'local' / 'local:N' for N local workers")
    p.add_argument("--scheduler-timeout", type=int_in_range(1, 3600, "a number of seconds"), default=SCHEDULER_TIMEOUT_S,
                   help=f"seconds to wait for the scheduler to answer (default {SCHEDULER_TIMEOUT_S})")
    p.add_argument("--overwrite", action="store_true", help="replace a complete result at the output")
    add_progress_flag(p)
    p.set_defaults(func=run)


def plan(args: argparse.Namespace, berg: Any) -> list[Request]:
    """Check every argument against the model cards, before any work; one request per model and subject."""
    return build_requests(args, {m: berg.get_card(m) for m in args.models})


def stimulus_kind(berg: Any, model_ids: list[str]) -> str:
    """The one stimulus kind the models take; an :class:`InvalidParameterError` listing them when they differ."""
    kinds: dict[str, list[str]] = {}
    for m in model_ids:
        kinds.setdefault(berg.get_card(m).stimuli, []).append(m)
    if len(kinds) > 1:
        listed = "; ".join(f"{k}: {', '.join(ids)}" for k, ids in kinds.items())
        raise InvalidParameterError(f"one berg encode run reads one kind of stimuli, but these models take different kinds "
                                    f"({listed}); run berg encode once per kind")
    return next(iter(kinds))


def _client(spec: str | None, timeout_s: int) -> Any:
    if spec is None:
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InvalidParameterError(
            "--scheduler needs Dask's distributed scheduler: pip install 'berg-core[distributed]'"
        ) from None
    if spec.startswith("local"):
        n = int(spec.split(":", 1)[1]) if ":" in spec else 2
        return Client(LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None))
    return _connect(Client, spec, timeout_s)


def _connect(client_class: Any, spec: str, timeout_s: int) -> Any:
    """A client of the scheduler at ``spec``, or a StoreError within about ``timeout_s`` seconds.

    dask's own ``timeout=`` does not cover an endpoint that accepts the connection and never
    answers (the client's handshake waits forever), so the scheduler is first asked who it is,
    under a deadline of ours, and the client built only once it has answered.
    """
    import asyncio

    from distributed.comm import connect

    async def identity() -> Any:
        comm = await connect(spec, timeout=timeout_s)
        try:
            await comm.write({"op": "identity"})
            return await comm.read()
        finally:
            comm.abort()

    try:
        answer = asyncio.run(asyncio.wait_for(identity(), timeout_s))
    except Exception as exc:
        # whatever answers at a wrong address (nothing, a silent socket, another protocol whose reply
        # dask reads as a frame of exabytes) surfaces as a different exception; all mean "no scheduler there"
        why = "no answer" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise StoreError(
            f"no Dask scheduler answered at {spec} within {timeout_s} s ({why}); "
            "check the address, or raise --scheduler-timeout"
        ) from None
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise StoreError(f"{spec} answered, but not as a Dask scheduler; check the address")
    try:
        return client_class(spec, timeout=timeout_s)
    except Exception as exc:
        raise StoreError(f"cannot connect to the Dask scheduler at {spec}: {type(exc).__name__}: {exc}") from None


def _load(berg: Any, requests: list[Request], device: str, progress: bool) -> list[Any]:
    """Load every model; with progress, a bar and one line per model on stderr (loading takes seconds each)."""
    from tqdm.auto import tqdm

    models = []
    with tqdm(total=len(requests), desc="loading models", unit="model", file=sys.stderr, disable=not progress) as bar:
        for r in requests:
            bar.set_postfix_str(r.label, refresh=True)
            t0 = time.perf_counter()
            models.append(berg.get_encoding_model(r.model_id, subject=r.subject, selection=r.selection, device=device, **r.options))
            if progress:
                bar.write(f"loaded {r.label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
            bar.update()
    return models


def run(args: argparse.Namespace) -> int:
    from berg_core.api import BERG
    from berg_core.cli.commands.stimulus_args import read_stimulus_args
    from berg_core.models.device import resolve_device
    from berg_core.results.zarr_sink import CompleteResultError
    from berg_core.stimuli.kinds import onset_rule, progress_unit

    progress = show_progress(args)
    berg = BERG(args.berg_dir)
    requests = plan(args, berg)
    resolve_device(args.device)
    kind = stimulus_kind(berg, args.models)
    # word files without onsets only when every model's card says it never uses them
    onsets = onset_rule([berg.get_card(m) for m in args.models])
    stimuli = read_stimulus_args(kind, args.stimuli, recursive=args.recursive, onsets=onsets)
    done = f"{args.output} already holds the complete result of every model and subject asked for " \
           f"({len(requests)} result(s), {len(stimuli)} stimuli); nothing to do. Pass --overwrite to redo it."
    client = _client(args.scheduler, args.scheduler_timeout)
    try:
        models = _load(berg, requests, args.device, progress)
        t0 = time.perf_counter()
        out = berg.encode(
            models if len(models) > 1 else models[0], stimuli, show_progress=progress,
            batch_size=args.batch_size, precision=args.precision, store=args.output, overwrite=args.overwrite, client=client,
        )
    except CompleteResultError:
        # the store compared the whole computation (request, weights, stimulus fingerprints) and found it done;
        # a result of other pixels or weights under the same names is refused instead, saying what differs
        print(done)
        return 0
    finally:
        if client is not None:
            client.close()
    elapsed = max(time.perf_counter() - t0, 1e-9)
    results = out if isinstance(out, dict) else {requests[0].label: out}
    unit = {"img": "images"}.get(progress_unit(kind), progress_unit(kind) + "s")
    rate = f"{stimuli.n_units() / elapsed:.2f} {unit}/s"
    print(f"encoded {len(stimuli)} stimuli with {len(models)} model(s) in {elapsed:.1f} s ({rate})")
    for label, da in results.items():
        dims = ", ".join(f"{d}={n}" for d, n in da.sizes.items())
        print(f"  {label}: ({dims}) {da.attrs.get('units', '')}")
    how = "xarray.open_zarr" if len(models) == 1 else "xarray.open_zarr(..., group=LABEL) or berg_core.BERG.open_results"
    print(f"written to {args.output} (open with {how})")
    return 0
