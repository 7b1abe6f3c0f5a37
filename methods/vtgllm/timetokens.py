"""VTG-LLM's absolute-time tokens: eleven new tokens for the digits 0-9 and the dot.

Guo et al., "VTG-LLM: Integrating Timestamp Knowledge into Video LLMs for Enhanced Video Temporal
Grounding", AAAI 2025, Sec. 3 (absolute-time tokens): timestamps are written with dedicated tokens
as four integer digits, a dot and one decimal (25.0 s -> ``0025.0``), the tokens are added to the
tokenizer, the embedding matrix is resized, and each new row starts as the embedding of the
ordinary character it stands for, so an untrained model reads them like plain digits.

The token strings are the ones the authors' released VTG-LLM uses (``<TIME_ZERO>`` ..
``<TIME_NINE>``, ``<TIME_DOT>``), so a tokenizer or training data from that release is recognised
and answers written in them parse.
"""

from __future__ import annotations

import re

#: Token strings, in the order digit 0..9 then the dot (the released VTG-LLM's spelling).
DIGIT_NAMES = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
TIME_TOKENS = tuple(f"<TIME_{name}>" for name in DIGIT_NAMES) + ("<TIME_DOT>",)
CHARS = "0123456789."
#: One time token (either case), for reading answers back.
TOKEN_PATTERN = re.compile(r"<time_(zero|one|two|three|four|five|six|seven|eight|nine|dot)>", re.IGNORECASE)
_TOKEN_CHAR = {name.lower(): c for name, c in zip((*DIGIT_NAMES, "DOT"), CHARS)}
MAX_TIME = 9999.9
_PLAIN = re.compile(r"^\d{1,4}\.\d$")


def time_string(seconds: float) -> str:
    """``seconds`` in VTG-LLM's fixed format: 4 integer digits, a dot, one decimal (``0025.0``).

    Times are clamped into ``[0, 9999.9]``, the range the format can hold.
    """
    t = min(MAX_TIME, max(0.0, float(seconds)))
    return f"{round(t, 1):06.1f}"


def format_time(seconds: float, tokens: bool = True) -> str:
    """``seconds`` written with the time tokens (``<TIME_ZERO><TIME_ZERO><TIME_TWO><TIME_FIVE>
    <TIME_DOT><TIME_ZERO>`` for 25 s, without the line break) or as plain digits."""
    text = time_string(seconds)
    return "".join(TIME_TOKENS[CHARS.index(c)] for c in text) if tokens else text


def parse_time(text: str) -> float:
    """Inverse of :func:`format_time` for either spelling; ValueError on anything else."""
    plain = untokenize(text.strip())
    if not _PLAIN.match(plain):
        raise ValueError(f"not a VTG-LLM timestamp: {text!r}")
    return float(plain)


def untokenize(text: str) -> str:
    """``text`` with every time token replaced by its character (spaces between tokens dropped)."""
    text = re.sub(r"(?i)(<time_[a-z]+>)\s+(?=<time_)", r"\1", text)
    return TOKEN_PATTERN.sub(lambda m: _TOKEN_CHAR[m.group(1).lower()], text)


def has_time_tokens(tokenizer) -> bool:
    """Whether the tokenizer already knows the eleven time tokens (a VTG-LLM fine-tuned checkpoint)."""
    vocab = tokenizer.get_vocab()
    return all(t in vocab for t in TIME_TOKENS)


def char_embedding_ids(tokenizer, char: str) -> list[int]:
    """Token ids of the ordinary spelling of ``char`` (usually one token)."""
    return list(tokenizer.encode(char, add_special_tokens=False))


def add_time_tokens(tokenizer, model) -> list[int]:
    """Add the time tokens to ``tokenizer`` and ``model`` (idempotent); returns their ids.

    The embedding matrix grows only when the new ids do not fit (Qwen pads its vocabulary, so
    they usually fit); input rows, and output rows when untied, are set to the embeddings of
    ``'0'``-``'9'`` and ``'.'``.
    """
    import torch
    from tokenizers import AddedToken

    source = [char_embedding_ids(tokenizer, c) for c in CHARS]
    if not has_time_tokens(tokenizer):
        tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in TIME_TOKENS])
    ids = tokenizer.convert_tokens_to_ids(list(TIME_TOKENS))
    rows = model.get_input_embeddings().weight.shape[0]
    if max(ids) >= rows:
        model.resize_token_embeddings(max(ids) + 1, mean_resizing=False)
    with torch.no_grad():
        tables = [model.get_input_embeddings().weight]
        out = model.get_output_embeddings()
        if out is not None and out.weight.data_ptr() != tables[0].data_ptr():
            tables.append(out.weight)
        for table in tables:
            for new_id, src in zip(ids, source):
                table[new_id] = table[src].mean(dim=0)
    return ids
