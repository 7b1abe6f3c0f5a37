"""``--llm hf:<model>``: a local transformers chat model (a Hub id already in the cache, or a directory).

A Hub id is downloaded on first use like every other model (size and progress on stderr;
``--offline`` / ``HF_HUB_OFFLINE=1`` refuse with the remedy), then loaded from the local files
only (``local_files_only``).
The first attempt decodes greedily; retries sample (temperature 0.7) so they can differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vtg.device import resolve_device
from vtg.encoders.weights import ensure_hf_model, quiet_transformers
from vtg.engine import default_manager
from vtg.errors import DependencyError, WeightsNotFoundError
from vtg.llm.chat import ChatBackend
from vtg.modelsize import check_transformers_model

def load_chat_model(model: str, device: str):
    """(tokenizer, model), shared per process through the model manager."""
    dev = resolve_device(device)
    return default_manager().get("chat-model", (model, dev), lambda: _load(model, dev), label=f"{model} ({dev})")


def _load(model: str, dev: str):
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise DependencyError("the hf LLM backend", "transformers") from None

    source = local_chat_model(model)

    check_transformers_model(source, AutoModelForCausalLM, None, what=f"chat model {model}")
    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        net = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            f"chat model {model!r} could not be loaded from {source} ({type(exc).__name__}: {exc}); "
            f"download it again with `hf download {model}` or pass a directory written by save_pretrained"
        ) from None
    # transformers wraps PreTrainedModel.to in a decorator whose annotation drops the bound self
    net.to(dev).eval()  # type: ignore[arg-type]
    return tokenizer, net


def local_chat_model(model: str) -> str:
    """The folder to load ``model`` from: a directory as given, or a Hub id's cached snapshot,
    downloaded on first use like every other model (size and progress on stderr); offline
    (``--offline``, ``HF_HUB_OFFLINE=1``) an uncached id is a WeightsNotFoundError with the remedy."""
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local)
    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise WeightsNotFoundError(
            f"no chat model at {model!r} (need a directory written by save_pretrained); for a Hugging Face "
            "id, first use downloads it, or fetch it ahead with `hf download ID`")

    try:
        return ensure_hf_model(model)
    except ValueError as exc:  # huggingface_hub's HFValidationError: not a valid repo id
        raise WeightsNotFoundError(f"{model!r} is neither a model directory nor a Hugging Face model id") from exc


def render_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """The chat template's text, or a plain transcript for tokenizers without one."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    lines = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"


class HFBackend(ChatBackend):
    name = "hf"

    def __init__(self, model: str, device: str = "auto", max_new_tokens: int = 512, retries: int = 2):
        super().__init__(retries)
        self.model = model
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.name = f"hf:{model}"

    def complete(self, messages: list[dict[str, str]], attempt: int) -> str:
        import torch

        tokenizer, net = load_chat_model(self.model, self.device)
        inputs = tokenizer(render_prompt(tokenizer, messages), return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(net.device) for k, v in inputs.items()}
        options: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": attempt > 0}
        if attempt > 0:
            options.update(temperature=0.7, top_p=0.95)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            out = net.generate(**inputs, **options, pad_token_id=pad)
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
