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
    assert format_time(25.0) == "<TIME_ZERO><TIME_ZERO><TIME_TWO><TIME_FIVE><TIME_DOT><TIME_ZERO>"
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
    (f"{format_time(2.5)} - {format_time(10.0)} seconds", [(2.5, 10.0)]),
    # as the released model's tokenizer may decode them: spaced out, lower-cased
    ("<time_zero> <time_zero> <time_zero> <time_two> <time_dot> <time_five> - 0010.0 seconds", [(2.5, 10.0)]),
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
    assert tok.decode(encoded) == format_time(25.0)


def test_time_tokens_are_the_released_models_eleven_tokens():
    # The released VTG-LLM adds <TIME_ZERO>..<TIME_NINE> and <TIME_DOT> (an earlier version used
    # its own <t0>..<t.> names, which a tokenizer or data from the release would not match).
    names = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
    assert TIME_TOKENS == tuple(f"<TIME_{n}>" for n in names) + ("<TIME_DOT>",)

    class Vocab:
        def __init__(self, tokens):
            self.tokens = tokens

        def get_vocab(self):
            return {t: i for i, t in enumerate(self.tokens)}

    assert has_time_tokens(Vocab(list(TIME_TOKENS) + ["a"])) and not has_time_tokens(Vocab(["<t0>", "<t.>"]))


def test_vtgllm_prompt_is_the_released_wording():
    from vtg.methods.vtgllm.method import PROMPT

    text = PROMPT.format(n=2, times="0000.0, 0001.5", query="a dog barks", example="0025.0")
    assert text.startswith("The video contains 2 frames sampled at 0000.0, 0001.5 seconds. Find the video "
                           "segment that corresponds to the given textual query 'a dog barks' and determine "
                           "its start and end seconds.")
    assert "lasts" not in text  # the released prompt gives no duration


def test_sequence_time_embedding_shapes_and_gradients():
    import torch

    from vtg.methods.vtgllm import SequenceTimeEmbedding

    module = SequenceTimeEmbedding(dim=16, max_frames=8, max_time=64, zero_init=False)
    tokens = torch.randn(2, 5, 7, 16)
    times = torch.tensor([[0.0, 1.0, 2.0, 3.0, 4.0], [0.0, 2.5, 5.0, 7.5, 10.0]])
    out = module(tokens, times)
    assert out.shape == tokens.shape
    delta = out - tokens
    assert torch.allclose(delta[:, :, 0], delta[:, :, 6], atol=1e-6)  # same embedding for every token of a frame
    assert not torch.allclose(delta[0, 1], delta[1, 1])  # same frame index, different time
    out.sum().backward()
    assert module.frame_index.weight.grad is not None and module.time_index.weight.grad.abs().sum() > 0
    assert torch.equal(SequenceTimeEmbedding(16)(tokens, times), tokens)  # zero-init: identity at start
    with pytest.raises(ValueError):
        module(tokens, times[:, :3])


def test_sequence_time_embedding_is_a_per_second_table_like_the_release():
    # Released model: frame table [96, D] + time table [8192, D] looked up at round(t) seconds.
    import torch

    from vtg.methods.vtgllm import SequenceTimeEmbedding

    module = SequenceTimeEmbedding(dim=4, zero_init=False)
    assert module.frame_index.weight.shape == (96, 4) and module.time_index.weight.shape == (8192, 4)
    tokens = torch.zeros(1, 3, 2, 4)
    times = torch.tensor([[2.4, 2.6, 9000.0]])
    delta = module(tokens, times)[0, :, 0]
    table, frames = module.time_index.weight, module.frame_index.weight
    assert torch.allclose(delta[0], frames[0] + table[2]) and torch.allclose(delta[1], frames[1] + table[3])
    assert torch.allclose(delta[2], frames[2] + table[8191])  # beyond the table: its last row


def test_slot_compression_matches_the_released_sampler():
    # Released SlotSampler: slots [D, K]; softmax(x @ slots) over the tokens (dim 1), no temperature.
    import torch

    from vtg.methods.vtgllm import SlotCompression

    module = SlotCompression(dim=16, num_slots=4)
    assert module.slots.shape == (16, 4)
    x = torch.randn(2, 30, 16)
    expected = torch.matmul(x.permute(0, 2, 1), torch.softmax(torch.matmul(x, module.slots), dim=1)).permute(0, 2, 1)
    assert torch.allclose(module(x), expected, atol=1e-5)


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
