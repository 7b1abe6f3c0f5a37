"""LLM sub-event decomposition: rules, defensive parsing, and every backend (all offline)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vtg.errors import DataError, LLMError, UnknownNameError, UsageError
from vtg.llm import Decomposition, SubEvent, clear_backends, decompose, extract_json, from_object, load_backend
from vtg.llm.chat import ChatBackend, Unreachable
from vtg.llm.parse import AnswerError, parse_answer
from vtg.llm.rules import split_query

GOOD = {"reasoning": "two steps", "relationship": "sequentially",
        "rewrites": ["A man shuts the door and leaves."],
        "sub_events": [{"descriptions": ["A man closes the door.", "Someone shuts a door."]},
                       {"descriptions": ["A man walks away."]}]}


@pytest.fixture(autouse=True)
def _fresh_backends():
    clear_backends()
    yield
    clear_backends()


# --- rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("query,relationship,parts", [
    ("person opens the door then walks out", "sequentially", ["person opens the door", "person walks out"]),
    ("A man sits down, and then he drinks water.", "sequentially", ["A man sits down", "he drinks water"]),
    ("person sits down after opening the door", "sequentially", ["person opening the door", "person sits down"]),
    ("After opening the door, the person sits down.", "sequentially",
     ["the person opening the door", "the person sits down"]),
    ("the person puts the book down before leaving", "sequentially",
     ["the person puts the book down", "the person leaving"]),
    ("person eats a sandwich while watching tv", "simultaneously", ["person eats a sandwich", "person watching tv"]),
    ("person takes a phone then talks, then leaves", "sequentially",
     ["person takes a phone", "person talks", "person leaves"]),
    ("person turns on the light.", "single-query", []),
    ("the thenar muscle is shown", "single-query", []),
])
def test_rules_split_temporal_connectives(query, relationship, parts):
    assert split_query(query) == (relationship, parts)
    d = decompose(query)
    assert d.backend == "rules" and d.relationship == relationship and d.rewrites == ()
    assert [s.descriptions for s in d.sub_events] == [(p,) for p in parts]
    assert d.trivial == (not parts)


def test_none_backend_never_splits():
    d = decompose("open the door then leave", "none")
    assert d.trivial and d.relationship == "single-query" and d.warning is None


def test_decomposition_invariants():
    d = Decomposition("q", "single-query", (SubEvent(("a",)), SubEvent(("b",))))
    assert d.sub_events == ()  # single-query holds no sub-events
    d = Decomposition("q", "sequentially", ())
    assert d.relationship == "single-query"
    with pytest.raises(ValueError):
        Decomposition("q", "sometimes")
    d = Decomposition("q", "simultaneously", ((("a", "b")), ("c",)), ("q2",), backend="x")
    assert d.descriptions == ("q", "q2")
    assert d.to_dict() == {"backend": "x", "relationship": "simultaneously", "sub_events": [["a", "b"], ["c"]],
                           "rewrites": ["q2"]}


# --- parsing ----------------------------------------------------------------------------

MESSY = [
    "Sure! Here is the decomposition:\n```json\n" + json.dumps(GOOD) + "\n```\nHope this helps.",
    "<think>The user wants {something}. Let me think.</think>" + json.dumps(GOOD),
    json.dumps(GOOD).replace('"]}', '",]}')[:-1] + ",}",  # trailing commas
    json.dumps(GOOD).replace('"relationship": "sequentially"', "\"relationship\": \u201csequentially\u201d"),
    repr(GOOD),  # a Python dict literal with single quotes
    "Answer: {not json} and {\"descriptions\": [\"an inner object\"]} then " + json.dumps(GOOD),
]


@pytest.mark.parametrize("answer", MESSY)
def test_messy_answers_are_parsed(answer):
    d = parse_answer(answer, "the man shuts the door then walks away", "test")
    assert d.relationship == "sequentially"
    assert [len(s.descriptions) for s in d.sub_events] == [2, 1]
    assert d.rewrites == ("A man shuts the door and leaves.",)
    assert d.raw == answer


@pytest.mark.parametrize("answer", ["", "I cannot help with that.", "[1, 2, 3]", "{broken",
                                    json.dumps({"relationship": "perhaps", "sub_events": ["a", "b"]}),
                                    json.dumps({"sub_events": [{"descriptions": ["a"]}, {"descriptions": ["b"]}]})])
def test_unusable_answers_raise_answer_error(answer):
    with pytest.raises(AnswerError):
        parse_answer(answer, "q", "test")


def test_reference_query_json_layout_and_synonyms():
    obj = {"relationship": "Sub-query 1 and sub-query 2 should occur simultaneously in the video",
           "query_json": [{"sub_query_id": 2, "descriptions": ["b"]}, {"sub_query_id": 0, "descriptions": ["r1", "r2"]},
                          {"sub_query_id": 1, "descriptions": "a"}, "junk"]}
    d = from_object(obj, "q", "x")
    assert d.relationship == "simultaneously"
    assert [s.descriptions for s in d.sub_events] == [("a",), ("b",)]
    assert d.rewrites == ("r1", "r2")


def test_single_query_with_one_sub_event_uses_it_as_rewrites_and_limits_apply():
    d = from_object({"relationship": "single", "sub_events": [{"descriptions": ["x " * 400, 5, "", "y"]}]}, "q", "x")
    assert d.relationship == "single-query" and d.sub_events == ()
    assert len(d.rewrites) == 2 and len(d.rewrites[0]) <= 300
    assert extract_json('{"a": {"b": "}"}} tail') == {"a": {"b": "}"}}


# --- chat backends: retry, then fall back -------------------------------------------------

class Scripted(ChatBackend):
    name = "scripted"

    def __init__(self, answers, retries=2):
        super().__init__(retries)
        self.answers = list(answers)
        self.seen = []

    def complete(self, messages, attempt):
        self.seen.append(messages)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_retry_explains_the_problem_then_succeeds():
    backend = Scripted(["no json here", json.dumps(GOOD)])
    d = backend.decompose("the man shuts the door then walks away")
    assert d.relationship == "sequentially" and d.warning is None
    assert len(backend.seen) == 2 and "could not be used" in backend.seen[1][-1]["content"]
    assert backend.seen[1][-2] == {"role": "assistant", "content": "no json here"}


def test_garbage_and_crashes_fall_back_to_the_whole_query(caplog):
    backend = Scripted(["garbage", RuntimeError("CUDA out of memory"), "{}{}{"])
    with caplog.at_level(logging.WARNING, logger="vtg.llm"):
        d = backend.decompose("open the door")
    assert d.trivial and d.query == "open the door" and "whole query" in d.warning
    assert "whole query" in caplog.text


def test_unreachable_backend_is_an_error_not_a_silent_fallback():
    with pytest.raises(LLMError, match="--llm rules"):
        Scripted([Unreachable("refused")] * 3).decompose("q")


# --- json:<file> ------------------------------------------------------------------------

def test_json_backend_with_released_tfvtg_outputs(shared_data):
    path = shared_data / "charades-sta" / "llm_outputs.json"
    if not path.is_file():
        pytest.skip("llm_outputs.json not present")
    data = json.loads(path.read_text())
    vid, entry, i = next((v, e, i) for v, e in data.items() for i, r in enumerate(e["response"])
                         if r.get("relationship") == "sequentially")
    sentence, response = entry["sentences"][i], entry["response"][i]
    d = decompose(sentence, f"json:{path}", video_id=vid)
    assert d.relationship == "sequentially"
    assert [list(s.descriptions) for s in d.sub_events] == [q["descriptions"] for q in response["query_json"][1:]]
    assert list(d.rewrites) == response["query_json"][0]["descriptions"]
    other = decompose("  " + sentence.upper() + " ", f"json:{path}", video_id=vid)
    assert other.sub_events == d.sub_events


def test_json_backend_matches_video_and_sentence(tmp_path, caplog):
    data = {"V1": {"sentences": ["open the door."], "response": [{"relationship": "single-query",
                                                                  "query_json": [{"sub_query_id": 0,
                                                                                  "descriptions": ["r1"]}]}]},
            "V2": {"sentences": ["open the door."], "response": [{"relationship": "single-query",
                                                                  "query_json": [{"sub_query_id": 0,
                                                                                  "descriptions": ["r2"]}]}]}}
    path = tmp_path / "d.json"
    path.write_text(json.dumps(data))
    assert decompose("Open the door", f"json:{path}", video_id="V2").rewrites == ("r2",)
    with caplog.at_level(logging.WARNING, logger="vtg.llm"):
        ambiguous = decompose("open the door.", f"json:{path}")  # two videos disagree, no id given
        missing = decompose("close the door", f"json:{path}", video_id="V1")
    assert ambiguous.trivial and missing.trivial and "close the door" in missing.warning
    with pytest.raises(DataError):
        decompose("q", f"json:{tmp_path / 'absent.json'}")
    (tmp_path / "bad.json").write_text("[1, 2")
    with pytest.raises(DataError):
        decompose("q", f"json:{tmp_path / 'bad.json'}")


# --- OpenAI-compatible HTTP ---------------------------------------------------------------

@pytest.fixture
def chat_server():
    """A local OpenAI-style server answering from a script; stops itself after the test (or 60 s)."""
    state = {"answers": [], "requests": [], "status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send(200, {"data": [{"id": "tiny-chat"}]})

        def do_POST(self):
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["requests"].append((self.path, payload))
            if state["status"] != 200:
                return self._send(state["status"], {"error": "boom"})
            content = state["answers"].pop(0) if state["answers"] else "nothing"
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": content}}]})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    timer = threading.Timer(60, server.shutdown)
    timer.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()


def test_openai_backend_parses_a_chatty_answer(chat_server):
    chat_server["answers"] = ["Sure:\n```json\n" + json.dumps(GOOD) + "\n```"]
    d = decompose("the man shuts the door then walks away", url=chat_server["url"])
    assert d.relationship == "sequentially" and d.backend == "openai"
    path, payload = chat_server["requests"][0]
    assert path == "/v1/chat/completions" and payload["model"] == "tiny-chat"
    assert payload["messages"][0]["role"] == "system" and "walks away" in payload["messages"][1]["content"]


def test_openai_backend_retries_then_falls_back(chat_server, caplog):
    chat_server["answers"] = ["no", "still no", "{'relationship': 'maybe', 'sub_events': ['a', 'b']}"]
    with caplog.at_level(logging.WARNING, logger="vtg.llm"):
        d = decompose("q then r", "openai:my-model", url=chat_server["url"] + "/chat/completions")
    assert d.trivial and d.warning and len(chat_server["requests"]) == 3
    assert all(p["model"] == "my-model" for _, p in chat_server["requests"])
    assert [p["temperature"] for _, p in chat_server["requests"]] == [0.0, 0.7, 0.7]


def test_openai_backend_server_errors(chat_server):
    chat_server["status"] = 500
    with pytest.raises(LLMError, match="HTTP 500"):
        decompose("q", url=chat_server["url"])


def test_backend_names():
    with pytest.raises(UnknownNameError):
        load_backend("gpt-17")
    with pytest.raises(UsageError):
        load_backend("hf:")
    with pytest.raises(UsageError):
        load_backend("openai")
    with pytest.raises(UsageError):
        load_backend("openai", url="ftp://example")
    assert load_backend("rules") is load_backend("rules")


# --- hf:<model> ---------------------------------------------------------------------------

def tiny_chat_model(out):
    """A random 1-layer Llama with a byte-level tokenizer and a chat template, saved to ``out``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(alphabet + ["<s>", "</s>", "<pad>"])}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}<assistant>{% endif %}")
    fast.save_pretrained(str(out))
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16384,
                      bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"], pad_token_id=vocab["<pad>"])
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    return out


@pytest.mark.slow
def test_hf_backend_with_a_random_model_falls_back_cleanly(tmp_path, caplog):
    model_dir = tiny_chat_model(tmp_path / "chat")
    backend = load_backend(f"hf:{model_dir}", device="cpu")
    backend.max_new_tokens = 8  # random weights answer garbage anyway; keep generation short
    with caplog.at_level(logging.WARNING, logger="vtg.llm"):
        d = decompose("open the door then leave", f"hf:{model_dir}", device="cpu")
    assert d.trivial and d.backend == f"hf:{model_dir}" and "whole query" in d.warning
    assert isinstance(d.raw, str)


def test_hf_backend_missing_model_says_how_to_get_it(tmp_path):
    from vtg.errors import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="hf download"):
        decompose("q", f"hf:{tmp_path / 'no-model'}", device="cpu")


def test_malformed_replies_fall_back_instead_of_failing():
    backend = Scripted([AnswerError("no choices"), AnswerError("no choices"), AnswerError("no choices")])
    d = backend.decompose("q then r")
    assert d.trivial and "no choices" in d.warning
