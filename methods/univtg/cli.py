"""UniVTG's own commands, mounted by the CLI through the method registry's command hook
(the ``vtg.commands`` entry points): ``vtg train univtg``, ``vtg pseudo-label``, ``vtg summarize`` and
``vtg models convert univtg CKPT``. The core CLI knows none of them by name."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from vtg.api import check_video_path
from vtg.cli.options import FLAG_CHECKS, emit, parse_key_values, pick_format, ranged
from vtg.errors import UsageError
from vtg.method import MethodCommand
from vtg.options import MAX_TOP, Range
from vtg.registry import load_method


def cli_commands() -> list[MethodCommand]:
    """Where each UniVTG command mounts on ``vtg``."""
    return [
        MethodCommand(("train", "univtg"), train_univtg_command),
        MethodCommand(("pseudo-label",), pseudo_label_command),
        MethodCommand(("summarize",), summarize_command),
        MethodCommand(("models", "convert", "univtg"), convert_command),
    ]


def convert_command(
    checkpoint: Path = typer.Argument(..., help="The official checkpoint file, e.g. model_best.ckpt."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Directory to write (default: vtg-univtg beside the checkpoint)."),
    max_gib: Optional[float] = ranged(None, "--max-gib", kind=float, check=Range(0, 1 << 20, low_open=True), help="Refuse checkpoints that would need more than this many GiB (default 4, or $VTG_MAX_CHECKPOINT_BYTES)."),
) -> None:
    """Convert an official UniVTG checkpoint once into safetensors + config.json (read without running its code)."""
    from .convert import convert_checkpoint

    if output is not None:  # before reading the checkpoint: `-o CKPT` is refused untouched
        from vtg.outputs import check_output_dir

        check_output_dir(output, inputs=[checkpoint], what="-o")
    out = convert_checkpoint(checkpoint, output, max_bytes=None if max_gib is None else int(max_gib * (1 << 30)))
    typer.echo(f"wrote {out}; use it with: vtg ground VIDEO QUERY --method univtg --model {out}")


def train_univtg_command(
    annotations: Path = typer.Argument(..., help="Training annotations (QVHighlights / Charades-STA JSONL, or vtg pseudo-label output)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output directory: model.safetensors + config.json, and last/ for resuming."),
    val: Optional[Path] = typer.Option(None, "--val", help="Validation annotations, evaluated after each epoch with vtg eval's metrics."),
    features: Optional[List[Path]] = typer.Option(None, "--features", help="Folder of precomputed per-clip video features <vid>.npz/.npy (repeat to concatenate, e.g. SlowFast then CLIP)."),
    text_features: Optional[Path] = typer.Option(None, "--text-features", help="Folder of <qid>.npz per-token text features (the official txt_clip layout). Default: computed with the CLIP encoder."),
    videos: Optional[Path] = typer.Option(None, "--videos", help="Folder of videos <vid>.mp4; features through the encoder and cache."),
    init: Optional[Path] = typer.Option(None, "--init", help="Fine-tune from a converted or trained model directory."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from OUTPUT/last."),
    epochs: int = ranged(200, "--epochs", high=1_000_000),
    batch_size: int = ranged(32, "--batch-size", high=65_536),
    lr: float = ranged(1e-4, "--lr", kind=float, check=Range(0, 10, low_open=True)),
    weight_decay: float = ranged(1e-4, "--weight-decay", kind=float, low=0, high=10),
    lr_drop: int = ranged(200, "--lr-drop", high=1_000_000, help="Multiply the learning rate by 0.1 every N epochs."),
    hidden_dim: int = ranged(1024, "--hidden-dim", high=65_536, help="Width for a model trained from scratch."),
    enc_layers: int = ranged(4, "--enc-layers", low=0, high=256),
    timestamp: str = typer.Option("center", "--timestamp", help="Clip anchor for a new model: center, or official (ignored with --init)."),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="CLIP encoder for video and text features (default: the --init folder's, else ViT-B-32/openai); recorded in config.json."),
    device: str = typer.Option("auto", "--device", help="auto, cuda or cpu.", callback=FLAG_CHECKS["device"]),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision on CUDA."),
    main_metric: str = typer.Option("R1@0.5", "--main-metric", help="Validation metric that picks the best model."),
    eval_every: int = ranged(1, "--eval-every", high=1_000_000),
    seed: int = typer.Option(2018, "--seed"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Train or fine-tune UniVTG with the paper's losses; prints one JSON line per epoch."""
    import json

    from .config import ModelConfig, video_features_kind
    from .data import read_annotations
    from .features import FeatureSource, build_samples
    from .train import Trainer, TrainOptions

    from vtg.outputs import check_output, check_output_dir

    show = sys.stderr.isatty() if progress is None else progress
    inputs = [annotations, val]
    check_output_dir(output, inputs=inputs, what="--output")  # before any feature is computed
    check_output(output / "log.jsonl", inputs=inputs, what="training log")
    if (output / "last" / "state.json").is_file() and not resume:
        raise UsageError(f"{output} already holds a training run; pass --resume to continue it or choose another --output")
    run_encoder, record = _training_encoder(encoder, init, computes=videos is not None or text_features is None)
    source = FeatureSource(features or (), text_features, videos, encoder=run_encoder, device=device)
    train = build_samples(read_annotations(annotations), source, progress=show)
    val_samples = build_samples(read_annotations(val), source, progress=show) if val else None
    dv, dt = train[0].video.shape[1] + 2, train[0].text.shape[1]
    cfg = ModelConfig(v_feat_dim=dv, t_feat_dim=dt, hidden_dim=hidden_dim, enc_layers=enc_layers,
                      timestamp=timestamp, video_features=video_features_kind(dv))
    opts = TrainOptions(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, lr_drop=lr_drop,
                        device=device, amp=amp, seed=seed, eval_every=eval_every, main_metric=main_metric,
                        progress=show)
    trainer = Trainer(cfg, output, opts, init_from=init, resume=resume)
    if trainer.cfg.v_feat_dim != dv or trainer.cfg.t_feat_dim != dt:
        raise UsageError(f"the features are {dv - 2}-d video / {dt}-d text but the model takes "
                         f"{trainer.cfg.v_feat_dim - 2} / {trainer.cfg.t_feat_dim}")
    import dataclasses

    trainer.cfg = dataclasses.replace(trainer.cfg, encoder=record)
    output.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        typer.echo(line, err=True)
        with open(output / "log.jsonl", "a") as fh:
            fh.write(line + "\n")

    state = trainer.fit(train, val_samples, log=log)
    typer.echo(json.dumps({"output": str(output), "epochs": state["epoch"], "best": state["best"],
                           "main_metric": main_metric, "timestamp": trainer.cfg.timestamp}))


def _training_encoder(explicit: Optional[str], init: Optional[Path], *, computes: bool) -> tuple[str, Optional[str]]:
    """(encoder to compute features with, canonical spec to record in config.json or None).

    The ``--init`` folder's recorded encoder is the default (an explicit one that differs is an
    error); a run whose features all come precomputed from folders records an encoder only when
    one was named, since vtg cannot know what produced them otherwise."""
    from vtg.encoders.specs import parse_spec

    from .features import CLIP_ENCODER
    from .weights import choose_encoder, recorded_encoder

    run = choose_encoder(explicit, init, CLIP_ENCODER)
    known = computes or explicit is not None or (init is not None and recorded_encoder(init) is not None)
    return run, parse_spec(run).canonical if known else None


def pseudo_label_command(
    videos: List[Path] = typer.Argument(..., help="Unlabelled videos."),
    output: Path = typer.Option(..., "--output", "-o", help="JSONL to write (QVHighlights form + label_type)."),
    vocabulary: Optional[Path] = typer.Option(None, "--vocabulary", help="Concept vocabulary, one per line."),
    concepts: Optional[str] = typer.Option(None, "--concepts", help="Comma-separated concepts (instead of --vocabulary)."),
    top_k: int = ranged(5, "--top-k", high=MAX_TOP, help="Concepts kept per video."),
    labels: str = typer.Option("interval", "--labels", help="Comma-separated label kinds: point, interval, curve."),
    encoder: str = typer.Option("ViT-B-32/openai", "--encoder", "-e", help="CLIP teacher that scores each 2-s clip against the concepts."),
    device: str = typer.Option("auto", "--device", help="auto, cuda or cpu.", callback=FLAG_CHECKS["device"]),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """CLIP-teacher pseudo labels (point / interval / curve) for pre-training UniVTG."""
    from .pseudo_labels import pseudo_label_videos, read_vocabulary

    if (vocabulary is None) == (concepts is None):
        raise UsageError("give exactly one of --vocabulary FILE or --concepts 'a,b,c'")
    from vtg.outputs import check_output

    check_output(output, inputs=[*videos, vocabulary], what="-o")
    words = read_vocabulary(vocabulary) if vocabulary else [c.strip() for c in (concepts or "").split(",") if c.strip()]
    kinds = [k.strip() for k in labels.split(",") if k.strip()]
    paths = [check_video_path(v) for v in videos]
    show = sys.stderr.isatty() if progress is None else progress
    n = pseudo_label_videos(paths, words, output, encoder=encoder, device=device, top_k=top_k, kinds=kinds, progress=show)
    typer.echo(f"wrote {n} pseudo-label records to {output}")


def summarize_command(
    video: Path = typer.Argument(..., help="Video file."),
    query: Optional[str] = typer.Argument(None, help="Optional focus; without it the summary is query-free."),
    model: Optional[str] = typer.Option(None, "--model", help="UniVTG directory (vtg models convert univtg / vtg train univtg)."),
    summary_ratio: float = ranged(0.2, "--summary-ratio", kind=float, check=Range(0, 1, low_open=True), help="Fraction of 2-second clips to keep."),
    encoder: Optional[str] = typer.Option(None, "--encoder", "-e", help="CLIP encoder (default: the one the model folder records, else ViT-B-32/openai)."),
    device: Optional[str] = typer.Option(None, "--device", help="auto, cuda or cpu.", callback=FLAG_CHECKS["device"]),
    option: Optional[List[str]] = typer.Option(None, "--option", "-O", help="Other UniVTG options as key=value."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (same as --format json)."),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="table, json, jsonl, csv or srt."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the result (e.g. a .jsonl for vtg export --reel)."),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."),
) -> None:
    """Highlights / video summary with UniVTG: the top clips by saliency, merged into intervals."""
    from .method import UniVTG

    from vtg.outputs import check_output

    if output is not None:  # before loading the model
        check_output(output, inputs=[video], what="-o")
    options = {k: v for k, v in {"model": model, "encoder": encoder, "device": device}.items() if v is not None}
    options.update(parse_key_values(option))
    runner = load_method("univtg", **options)
    if not isinstance(runner, UniVTG):  # another distribution registered its own "univtg"
        raise UsageError(f"vtg summarize needs vtg's UniVTG; the method registered as univtg is {type(runner).__name__}")
    show = sys.stderr.isatty() if progress is None else progress
    result = runner.summarize(check_video_path(video), summary_ratio, query, progress=show)
    emit([result], pick_format(fmt, as_json, output), output, inputs=[video])
