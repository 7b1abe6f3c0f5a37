"""VTG-LLM: time-token round trip, adding the tokens to a model, module shapes, answer parsing."""

from __future__ import annotations

import pytest

from vtg.methods.vtgllm import (TIME_TOKENS, add_time_tokens, format_time, has_time_tokens, parse_answer,
                                parse_time, time_string)


def spans(moments):
    return [(round(m.start, 2), round(m.end, 2)) for m in moments]


def test_time_format():
    assert time_string(25.0) == "0025.0"
    assert time_string(2.54) == "0002.5"
    assert time_string(123.45) == "0123.5" or time_string(123.45) == "0123.4"
    assert time_string(-3) == "0000.0" and time_string(1e6) == "9999.9"
    assert format_time(25.0) == "<t0><t0><t2><t5><t.><t0>"
    assert format_time(25.0, tokens=False) == "0025.0"
    assert len(TIME_TOKENS) == 11


@pytest.mark.parametrize("t", [0.0, 0.1, 2.5, 25.0, 99.9, 1234.5, 9999.9])
def test_round_trip(t):
    assert parse_time(format_time(t)) == pytest.approx(t)
    assert parse_time(format_time(t, tokens=False)) == pytest.approx(t)


def test_parse_time_rejects_other_text():
    with pytest.raises(ValueError):
        parse_time("twenty")


@pytest.mark.parametrize("answer,expected", [
    ("0002.5 - 0010.0 seconds", [(2.5, 10.0)]),
    ("<t0><t0><t0><t2><t.><t5> - <t0><t0><t1><t0><t.><t0> seconds", [(2.5, 10.0)]),
    ("The event happens from 0002.5 to 0010.0 seconds.", [(2.5, 10.0)]),
    ("2.5 - 10 seconds", [(2.5, 10.0)]),
    ("0010.0 - 0002.5", [(2.5, 10.0)]),
    ("0001.0 - 0003.0 seconds, 0008.0 - 0009.5 seconds", [(1.0, 3.0), (8.0, 9.5)]),
    ("Sorry, I can't find it.", []),
])
def test_parse_answer_table(answer, expected):
    assert spans(parse_answer(answer)) == expected


def test_parse_answer_clamps():
    assert spans(parse_answer("0025.0 - 0040.0 seconds", duration=30.0)) == [(25.0, 30.0)]


def test_add_time_tokens_initialises_from_digit_embeddings(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vtg.methods.videollm.tiny import save_tiny_qwen2vl

    directory = save_tiny_qwen2vl(tmp_path / "m")
    tok = AutoProcessor.from_pretrained(directory).tokenizer
    model = AutoModelForImageTextToText.from_pretrained(directory)
    rows = model.get_input_embeddings().weight.shape[0]
    assert not has_time_tokens(tok)
    ids = add_time_tokens(tok, model)
    assert has_time_tokens(tok) and len(set(ids)) == 11
    table = model.get_input_embeddings().weight
    assert table.shape[0] == max(rows, max(ids) + 1)
    for new_id, char in zip(ids, "0123456789."):
        (src,) = tok.encode(char, add_special_tokens=False)
        assert torch.equal(table[new_id], table[src])
    assert add_time_tokens(tok, model) == ids  # idempotent
    encoded = tok.encode(format_time(25.0), add_special_tokens=False)
    assert encoded == [ids[0], ids[0], ids[2], ids[5], ids[10], ids[0]]
    assert tok.decode(encoded) == "<t0><t0><t2><t5><t.><t0>"


def test_sequence_time_embedding_shapes_and_gradients():
    import torch

    from vtg.methods.vtgllm import SequenceTimeEmbedding

    module = SequenceTimeEmbedding(dim=16, max_frames=8, zero_init=False)
    tokens = torch.randn(2, 5, 7, 16)
    times = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 5.0, 7.5, 10.0]])
    out = module(tokens, times)
    assert out.shape == tokens.shape
    delta = out - tokens
    assert torch.allclose(delta[:, :, 0], delta[:, :, 6], atol=1e-6)  # same embedding for every token of a frame
    assert not torch.allclose(delta[0, 1], delta[1, 1])  # same frame index, different time
    out.sum().backward()
    assert module.frame_index.weight.grad is not None and module.time_chars.weight.grad.abs().sum() > 0
    assert torch.equal(SequenceTimeEmbedding(16)(tokens, times), tokens)  # zero-init: identity at start
    with pytest.raises(ValueError):
        module(tokens, times[:, :3])


def test_slot_compression_shapes_and_softmax_over_tokens():
    import torch

    from vtg.methods.vtgllm import SlotCompression

    assert SlotCompression(8).num_slots == 256
    module = SlotCompression(dim=16, num_slots=4)
    tokens = torch.randn(2, 30, 16, requires_grad=True)
    out = module(tokens)
    assert out.shape == (2, 4, 16)
    weights = module.weights(tokens)
    assert weights.shape == (2, 30, 4) and torch.allclose(weights.sum(dim=1), torch.ones(2, 4))
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[:, 20:] = False
    masked = module(tokens, mask)
    assert torch.allclose(masked, module(tokens[:, :20]), atol=1e-6)
    out.sum().backward()
    assert module.slots.grad is not None and tokens.grad is not None
