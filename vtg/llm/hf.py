"""``--llm hf:<model>``: a local transformers chat model (a Hub id already in the cache, or a directory).

Weights are looked up locally only (``local_files_only``): a missing model raises
:class:`vtg.errors.WeightsNotFoundError` saying how to fetch it, and never downloads silently.
The first attempt decodes greedily; retries sample (temperature 0.7) so they can differ.
"""

from __future__ import annotations

from pathlib import Path

from vtg.errors import DependencyError, WeightsNotFoundError
from vtg.llm.chat import ChatBackend

def load_chat_model(model: str, device: str):
    """(tokenizer, model), shared per process through the model manager."""
    from vtg.device import resolve_device
    from vtg.engine import default_manager

    dev = resolve_device(device)
    return default_manager().get("chat-model", (model, dev), lambda: _load(model, dev), label=f"{model} ({dev})")


def _load(model: str, dev: str):
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise DependencyError("the hf LLM backend", "transformers") from None
    local = Path(model).expanduser()
    source = str(local) if local.is_dir() else model
    from vtg.encoders.weights import quiet_transformers

    quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        net = AutoModelForCausalLM.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            f"chat model {model!r} is not available locally ({type(exc).__name__}); download it with "
            f"`hf download {model}` or pass a directory written by save_pretrained"
        ) from None
    net.to(dev).eval()
    return tokenizer, net


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
        options = {"max_new_tokens": self.max_new_tokens, "do_sample": attempt > 0}
        if attempt > 0:
            options.update(temperature=0.7, top_p=0.95)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.inference_mode():
            out = net.generate(**inputs, **options, pad_token_id=pad)
        return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
