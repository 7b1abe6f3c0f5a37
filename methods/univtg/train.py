"""Training and fine-tuning UniVTG (``vtg train univtg``), following the paper's implementation details
and the released scripts: AdamW (lr 1e-4, weight decay 1e-4), gradient clipping at 0.1, a step
learning-rate decay (x0.1 every ``lr_drop`` epochs), the losses of :mod:`.losses`; mixed precision
on CUDA.

Layout of the output directory::

    model.safetensors + config.json      best model so far (by the eval metric), loadable as --model
    last/model.safetensors               weights after the latest epoch
    last/optimizer.safetensors           AdamW moments (tensors only)
    last/state.json                      epoch, step counts, lr, best score, metric history

``resume=True`` continues from ``last/`` after an interruption: weights, optimiser moments,
scheduler position, epoch and best score all come back, and nothing is unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence


from vtg.device import resolve_device
from vtg.errors import CheckpointError, UsageError, VtgError
from vtg.eval import evaluate
from .config import ModelConfig
from .data import Sample, collate, ground_truth_records, to_device
from .inference import clip_saliency, decode_moments
from .losses import LossWeights, compute_losses
from .weights import load_model, save_model


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 200
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 0.1
    lr_drop: int = 200
    lr_gamma: float = 0.1
    warmup_epochs: int = 0
    device: str = "auto"
    amp: bool = True
    seed: int = 2018
    eval_every: int = 1
    main_metric: str = "R1@0.5"
    progress: bool = False
    time_limit: float | None = None
    weights: LossWeights = field(default_factory=LossWeights)


def lr_factor(epoch: int, opts: TrainOptions) -> float:
    """Linear warm-up, then x ``lr_gamma`` every ``lr_drop`` epochs (the released StepLR)."""
    if epoch < opts.warmup_epochs:
        return (epoch + 1) / opts.warmup_epochs
    return opts.lr_gamma ** ((epoch - opts.warmup_epochs) // max(1, opts.lr_drop))


def predict(model, samples: Sequence[Sample], cfg: ModelConfig, device: str, batch_size: int = 32,
            max_moments: int = 10) -> list[dict[str, Any]]:
    """QVHighlights-form predictions (ranked windows + per-clip saliency) for labelled samples."""
    import torch

    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(samples), batch_size):
            chunk = samples[i:i + batch_size]
            inputs, _ = collate(chunk, cfg.clip_length, cfg.timestamp)
            out = model(**to_device(inputs, device))
            fg = out["pred_logits"].squeeze(-1).float().cpu().numpy()
            spans = out["pred_spans"].float().cpu().numpy()
            cos = out["saliency_scores"].float().cpu().numpy()
            for b, s in enumerate(chunk):
                n = s.video.shape[0]
                duration = s.duration or n * cfg.clip_length
                moments = decode_moments(fg[b, :n], spans[b, :n], duration, clip_len=cfg.clip_length,
                                         convention=cfg.timestamp, max_moments=max_moments)
                preds.append({"qid": s.qid, "query": s.query, "vid": s.vid,
                              "pred_relevant_windows": [m.to_list() for m in moments],
                              "pred_saliency_scores": [round(float(x), 4) for x in clip_saliency(cos[b, :n], fg[b, :n])]})
    return preds


def evaluate_predictions(preds: list[dict], gts: list[dict]) -> Mapping[str, float | None]:
    """The metrics of ``vtg eval`` (vtg.eval is part of vtg, so always there)."""
    return dict(evaluate(preds, gts))


class Trainer:
    """Owns model, optimiser and output directory; ``fit`` runs the epochs."""

    def __init__(self, cfg: ModelConfig, out_dir: str | Path, opts: TrainOptions = TrainOptions(),
                 init_from: str | Path | None = None, resume: bool = False):
        import torch

        from .model import UniVTGModel

        self.opts, self.out = opts, Path(out_dir)
        self.device = resolve_device(opts.device)
        torch.manual_seed(opts.seed)
        self.rng = random.Random(opts.seed)
        if init_from is not None:
            self.model, cfg = load_model(init_from, self.device)
        else:
            self.model = UniVTGModel(cfg).to(self.device)
        self.cfg = cfg
        self.optim = torch.optim.AdamW(self.model.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
        self.use_amp = opts.amp and self.device.startswith("cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state: dict[str, Any] = {"epoch": 0, "step": 0, "best": None, "history": []}
        if resume and (self.out / "last" / "state.json").is_file():
            self._load_last()

    # -- one epoch -------------------------------------------------------------------------
    def train_epoch(self, samples: Sequence[Sample], epoch: int) -> dict[str, float]:
        import torch

        for group in self.optim.param_groups:
            group["lr"] = self.opts.lr * lr_factor(epoch, self.opts)
        self.model.train()
        order = list(range(len(samples)))
        self.rng.shuffle(order)
        batches = [order[i:i + self.opts.batch_size] for i in range(0, len(order), self.opts.batch_size)]
        sums: dict[str, float] = {}
        bar = _progress(batches, f"epoch {epoch + 1}/{self.opts.epochs}", self.opts.progress)
        for idx in bar:
            inputs, targets = collate([samples[i] for i in idx], self.cfg.clip_length, self.cfg.timestamp, self.rng)
            inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                out = self.model(**inputs)
            loss, terms = compute_losses(out, targets, self.opts.weights)
            self.optim.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.opts.grad_clip > 0:
                self.scaler.unscale_(self.optim)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.opts.grad_clip)
            self.scaler.step(self.optim)
            self.scaler.update()
            self.state["step"] += 1
            terms["loss"] = float(loss.detach())
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k.replace("loss_", ""): f"{v:.3f}" for k, v in terms.items()})
        return {k: v / max(1, len(batches)) for k, v in sums.items()}

    # -- the loop --------------------------------------------------------------------------
    def fit(self, train: Sequence[Sample], val: Sequence[Sample] | None = None,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
        if not train:
            raise UsageError("no training samples")
        log = log or (lambda s: None)
        started = time.monotonic()
        gts = ground_truth_records(val) if val else []
        for epoch in range(self.state["epoch"], self.opts.epochs):
            losses = self.train_epoch(train, epoch)
            record: dict[str, Any] = {"epoch": epoch + 1, **{k: round(v, 5) for k, v in losses.items()}}
            metrics = None
            if val and ((epoch + 1) % self.opts.eval_every == 0 or epoch + 1 == self.opts.epochs):
                metrics = evaluate_predictions(predict(self.model, val, self.cfg, self.device), gts)
                record["metrics"] = {k: round(float(v), 3) for k, v in metrics.items()
                                     if isinstance(v, (int, float)) and (not k.startswith("MR-") or k == "MR-full-mAP")}
            self.state["epoch"] = epoch + 1
            self.state["history"].append(record)
            if metrics is not None and self.opts.main_metric not in metrics:
                raise UsageError(f"main metric {self.opts.main_metric!r} is not among the evaluation metrics: "
                                 f"{', '.join(k for k, v in metrics.items() if isinstance(v, (int, float)))}")
            score = None if metrics is None else metrics.get(self.opts.main_metric)
            if metrics is None and not val or score is not None and (self.state["best"] is None or score > self.state["best"]):
                self.state["best"] = score
                save_model(self.model, self.cfg, self.out)
            self._save_last()
            log(json.dumps(record))
            if self.opts.time_limit and time.monotonic() - started > self.opts.time_limit:
                log(f"time limit of {self.opts.time_limit:.0f}s reached after epoch {epoch + 1}")
                break
        if not (self.out / "model.safetensors").is_file():
            save_model(self.model, self.cfg, self.out)
        return self.state

    # -- checkpoints -------------------------------------------------------------------------
    def _save_last(self) -> None:
        from safetensors.torch import save

        from vtg.fileio import atomic_write_bytes, atomic_write_text

        last = self.out / "last"
        save_model(self.model, self.cfg, last)
        tensors, meta = optimizer_to_flat(self.optim.state_dict())
        atomic_write_bytes(last / "optimizer.safetensors", save(tensors))
        state = dict(self.state, optimizer=meta, scaler=_scaler_state(self.scaler),
                     options={k: v for k, v in dataclasses.asdict(self.opts).items() if k != "weights"})
        atomic_write_text(last / "state.json", json.dumps(state, indent=1))

    def _load_last(self) -> None:
        from safetensors.torch import load_file

        last = self.out / "last"
        try:
            state = json.loads((last / "state.json").read_text())
            self.model, self.cfg = load_model(last, self.device)
            self.model.train()
            import torch

            self.optim = torch.optim.AdamW(self.model.parameters(), lr=self.opts.lr, weight_decay=self.opts.weight_decay)
            flat = load_file(str(last / "optimizer.safetensors"), device="cpu")  # moments move to their params
            self.optim.load_state_dict(optimizer_from_flat(flat, state["optimizer"]))
        except VtgError:
            raise
        except Exception as exc:  # missing/corrupt files, safetensors errors, mismatched optimiser state
            raise CheckpointError(f"cannot resume from {last}: {type(exc).__name__}: {exc}") from None
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.state = {k: state[k] for k in ("epoch", "step", "best", "history")}


def optimizer_to_flat(sd: dict) -> tuple[dict, dict]:
    """Split an optimiser state dict into named tensors (safetensors) and JSON-able metadata."""
    import torch

    tensors: dict[str, Any] = {}
    meta_state: dict[str, dict] = {}
    for pid, st in sd["state"].items():
        meta_state[str(pid)] = {}
        for name, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{pid}.{name}"] = val.detach().cpu().contiguous()
            else:
                meta_state[str(pid)][name] = val
    return tensors, {"state": meta_state, "param_groups": sd["param_groups"]}


def optimizer_from_flat(tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {int(pid): dict(v) for pid, v in meta["state"].items()}
    for key, val in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = val
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else dict(g) for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def _scaler_state(scaler) -> dict | None:
    if not scaler.is_enabled():
        return None
    return {k: (float(v) if not isinstance(v, (int, bool)) else v) for k, v in scaler.state_dict().items()}


def _progress(items, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, dynamic_ncols=True)
