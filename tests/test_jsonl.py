"""One JSON Lines rule (vtg.jsonl) for every reader and writer (issue 18): BOM, UTF-8, "\\n" only,
malformed lines named by number; batch, eval, the journal and `vtg parse` read the same lines."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from vtg import jsonl
from vtg.errors import DataError

REPO = Path(__file__).resolve().parents[1]
#: A query with every character some splitter treats as a line end (all legal inside JSON strings).
TRICKY = "a\u2028b\u2029c\x85d"


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_dumps_is_one_line_of_utf8_that_every_splitter_agrees_on():
    line = jsonl.dumps({"q": TRICKY, "é": 1})
    assert line.endswith("\n") and line.count("\n") == 1 and len(line.splitlines()) == 1
    assert "é" in line and json.loads(line) == {"q": TRICKY, "é": 1}
    assert jsonl.dumps({"q": "é"}, ascii_only=True) == '{"q": "\\u00e9"}\n'


def test_dumps_escapes_lone_surrogates_and_refuses_nan():
    line = jsonl.dumps({"qid": "\ud800", "q": "é"})
    line.encode("utf-8")  # never raises: output is always UTF-8
    assert json.loads(line) == {"qid": "\ud800", "q": "é"}
    with pytest.raises(ValueError):
        jsonl.dumps({"x": float("nan")})


def test_reader_drops_the_bom_splits_on_newline_only_and_counts_blank_lines(tmp_path):
    lines = [json.dumps({"q": "one"}), "", "  \r", json.dumps({"q": TRICKY}, ensure_ascii=False) + "\r"]
    path = write(tmp_path / "a.jsonl", ("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    assert list(jsonl.records(path)) == [(1, {"q": "one"}), (4, {"q": TRICKY})]
    text = jsonl.read_text(path)
    assert not text.startswith("\ufeff")
    assert list(jsonl.numbered(text)) == list(jsonl.lines(path))


def test_malformed_line_is_named_by_number(tmp_path):
    path = write(tmp_path / "a.jsonl", b'{"a": 1}\n\n{"a": \n' + b"[" * 100_000 + b"\n")
    with pytest.raises(jsonl.LineError, match=r"a\.jsonl:3: malformed JSON: Expecting value") as info:
        list(jsonl.records(path))
    assert isinstance(info.value, DataError) and info.value.number == 3
    with pytest.raises(jsonl.LineError, match="malformed JSON on line 4: RecursionError"):
        jsonl.loads("[" * 100_000, 4)


def test_undecodable_bytes_survive_for_tolerant_readers_and_are_named_by_strict_ones(tmp_path):
    path = write(tmp_path / "a.jsonl", b'{"q": "ok"}\n{"q": "bad \xff"}\n')
    assert [n for n, _ in jsonl.lines(path)] == [1, 2]  # batch still runs line 2
    with pytest.raises(DataError, match=r"a\.jsonl: line 2 is not UTF-8 text"):
        jsonl.read_text(path, strict=True)
    with pytest.raises(jsonl.LineError, match="not UTF-8"):
        jsonl.loads(b'{"q": "bad \xff"}', 2)
    assert jsonl.loads(b'\xef\xbb\xbf{"q": 1}', 1) == {"q": 1}  # the file's BOM, on its first line


def test_write_then_every_caller_reads_the_same_records(tmp_path, monkeypatch):
    """The batch input reader, the eval loader and `vtg parse`'s reader see the same lines."""
    from vtg.batch.inputs import read_items
    from vtg.eval.loaders import load_ground_truth

    records = [{"qid": i, "query": q, "vid": "v", "video": "v.mp4", "duration": 9.0, "relevant_windows": [[1, 2]]}
               for i, q in enumerate(["door", TRICKY, "é"])]
    path = tmp_path / "gt.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + jsonl.render(records).encode("utf-8").replace(b"\n", b"\r\n\n"))
    assert [g["query"] for g in load_ground_truth(path)] == [r["query"] for r in records]
    monkeypatch.chdir(tmp_path)
    items = read_items(path)
    assert [i.text for i in items] == [r["query"] for r in records] and [i.line for i in items] == [1, 3, 5]
    assert all(i.error is None or "video" in i.error for i in items)


def test_journal_reads_and_writes_by_the_rule(tmp_path):
    from vtg.batch.journal import Journal

    record = {"vtg_batch": 1, "status": "ok", "qid": "a", "line": 1, "settings": {}, "query": TRICKY,
              "pred_relevant_windows": [[0.0, 1.0, 1.0]]}
    out = write(tmp_path / "out.jsonl", b"\xef\xbb\xbf" + jsonl.dumps(record).encode("utf-8"))
    with Journal(out, fsync=False) as journal:  # a BOM an editor added is not a foreign line
        assert journal.records == [record]
        journal.append({**record, "qid": "\udcff"})
    assert [r["qid"] for _, r in jsonl.records(out)] == ["a", "\udcff"]


def test_no_reader_keeps_a_rule_of_its_own():
    """The callers named by issue 18 go through vtg.jsonl; `vtg parse` imports no batch internals."""
    for rel in ("vtg/batch/inputs.py", "vtg/eval/loaders.py", "vtg/batch/journal.py", "methods/videollm/cli.py",
                "vtg/writers.py"):
        source = (REPO / rel).read_text()
        assert "jsonl." in source, rel
        assert "utf-8-sig" not in source and "\\ufeff" not in source, rel
        imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
        assert rel == "vtg/batch/journal.py" or "vtg.batch.inputs" not in imported, rel
