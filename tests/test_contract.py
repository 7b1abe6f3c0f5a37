"""The contract every registered method keeps, through every front end (issue 18).

Each method in :func:`vtg.registry.registered_methods` runs on tiny randomly initialised models
(saved to temporary folders and loaded by path, as users' models are; recipes in
tests/contract_models.py) through the Python API (``vtg.ground``), the CLI in-process
(``vtg ground --json``), ``vtg batch`` over a JSONL file with one good line and four bad ones, and
the server's ASGI app (``POST /ground``). Every record must have the documented fields and types,
one saliency score per sampled time (finite), moments inside ``[0, duration]`` ranked by score,
scores in the range ``Method.score_meaning`` states; bad batch lines become error records; no
output says "internal error"; and the four front ends agree on the moments and the saliency.

A method registered without a recipe fails here (it is not skipped): add a row to
``contract_models.RECIPES``. Video-LLMs with random weights answer noise (no interval), so their
loaded model's ``generate`` is scripted to answer an interval that runs past the video's end: the
parsing, time mapping and clipping that follow are the methods' own.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest

from contract_models import (RECIPES, VIDEO_SECONDS, Recipe, Scalar, TinyModels, contract_video, finite,
                             loaded_video_llm)
from vtg.registry import method_class, registered_methods

METHODS = sorted(registered_methods())
QUERY = "the blue screen"
#: Moments kept, given the same way to every front end (the CLI keeps 5 unless told).
TOP_K = 3
#: Fields every grounding record has (the QVHighlights prediction format and vtg's additions).
FIELDS = {"qid", "query", "vid", "duration", "method", "pred_relevant_windows", "pred_saliency_scores",
          "saliency_times", "saliency_scores", "meta"}


def recipe_of(name: str) -> Recipe:
    if name not in RECIPES:
        pytest.fail(f"method {name!r} is registered but has no tiny-model recipe in tests/contract_models.py")
    return RECIPES[name]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return TinyModels(tmp_path_factory.mktemp)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return contract_video(tmp_path_factory.mktemp("contract-video"))


@pytest.fixture(scope="module")
def api_records() -> dict[str, dict]:
    """The API's record per method, computed by the first test that needs it (under its cache)."""
    return {}


@pytest.fixture
def method(request: pytest.FixtureRequest, models: TinyModels, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The method's name, its models built and, for a Video-LLM, the shared loaded model scripted."""
    name: str = request.param
    recipe = recipe_of(name)
    if recipe.answer is not None:
        from vtg.registry import load_method

        answer = recipe.answer()
        llm = loaded_video_llm(load_method(name, **recipe.operator(models)))  # shared by every front end
        monkeypatch.setattr(llm, "generate", lambda parts, **kw: answer)
    yield name


by_method = pytest.mark.parametrize("method", METHODS, indirect=True)


# -- the four front ends -------------------------------------------------------------------------
def via_api(name: str, models: TinyModels, video: Path) -> dict:
    import vtg

    recipe = RECIPES[name]
    options: dict[str, Any] = {**recipe.operator(models), **recipe.line}
    result = vtg.ground(video, QUERY, method=name, top_k=TOP_K, **options)
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


def option_flags(options: dict[str, Any]) -> list[str]:
    return [arg for key, value in options.items() for arg in ("-O", f"{key}={value}")]


def via_cli(name: str, models: TinyModels, video: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    from vtg.cli.main import main

    recipe = RECIPES[name]
    capsys.readouterr()
    code = main(["ground", str(video), QUERY, "-m", name, "--json", "--no-progress", "-k", str(TOP_K),
                 *option_flags({**recipe.operator(models), **recipe.line})])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert_no_internal_error(out + err)
    parsed = json.loads(out)
    records = parsed if isinstance(parsed, list) else [parsed]
    assert len(records) == 1
    return records[0]


def bad_lines(video: Path) -> dict[str, tuple[dict, str]]:
    """Lines that must each become an error record: name -> (line, what the error says)."""
    return {"empty query": ({"video": str(video), "query": ""}, r"empty"),
            "unknown option": ({"video": str(video), "query": QUERY, "options": {"no_such_option": 1}},
                               r"no option 'no_such_option'"),
            "refused option": ({"video": str(video), "query": QUERY, "options": {"device": "cpu"}},
                               r"may not set option 'device'"),
            "missing video": ({"video": str(video.parent / "missing.mp4"), "query": QUERY}, r"missing\.mp4")}


def via_batch(name: str, models: TinyModels, video: Path, folder: Path,
              capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict[str, dict]]:
    """The good line's record and the bad lines' records (by name)."""
    from vtg.cli.main import main

    recipe = RECIPES[name]
    bad = bad_lines(video)
    lines = [{"qid": "good", "video": str(video), "query": QUERY, "options": recipe.line},
             *({"qid": key, **line} for key, (line, _) in bad.items())]
    source, output = folder / "queries.jsonl", folder / "predictions.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    capsys.readouterr()
    code = main(["batch", str(source), "-o", str(output), "-m", name, "--no-progress", "-k", str(TOP_K),
                 *option_flags(recipe.operator(models))])
    out, err = capsys.readouterr()
    assert code != 0 and re.match(r"vtg: error: 4 of 5 lines failed", err.rstrip().splitlines()[-1]), err
    assert "Traceback" not in err
    assert_no_internal_error(out + err + output.read_text(encoding="utf-8"))
    records = {r["qid"]: r for r in map(json.loads, output.read_text(encoding="utf-8").splitlines())}
    assert set(records) == {"good", *bad}
    return records.pop("good"), records


def asgi_request(app: Any, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """One HTTP request through the ASGI app, as uvicorn would deliver it from 127.0.0.1."""
    raw = json.dumps(body).encode() if body is not None else b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(raw)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": raw, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    data = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(data)


def served(name: str, models: TinyModels, video: Path) -> tuple[Any, dict[str, Scalar]]:
    """The server's app for ``name`` serving the video's folder, and the recipe's line options a
    request carries: those ``GET /health`` lists as settable per request (the others are the
    operator's, given when the server is built)."""
    from vtg.serve import ServeConfig, build

    recipe = RECIPES[name]

    def serve(**fixed: Any) -> Any:
        config = ServeConfig(roots=(video.parent,), method=name, method_options={**recipe.operator(models), **fixed})
        return build(config)[1]

    app = serve()
    status, health = asgi_request(app, "GET", "/health")
    assert status == 200 and isinstance(health["request_options"], list), health
    options = {k: v for k, v in recipe.line.items() if k in health["request_options"]}
    fixed = {k: v for k, v in recipe.line.items() if k not in options}
    return (serve(**fixed) if fixed else app), options


def via_server(name: str, models: TinyModels, video: Path) -> tuple[dict, tuple[int, dict]]:
    """The record ``POST /ground`` answers, and the answer to a request for a missing video."""
    app, options = served(name, models, video)
    status, record = asgi_request(app, "POST", "/ground", {"video": video.name, "query": QUERY, "top_k": TOP_K,
                                                          "options": options})
    assert status == 200, record
    missing = asgi_request(app, "POST", "/ground", {"video": "missing.mp4", "query": QUERY})
    return record, missing


# -- what every record must hold --------------------------------------------------------------------
def assert_no_internal_error(text: str) -> None:
    assert "internal error" not in text.lower()


def check_record(record: dict, name: str, query: str | None = QUERY) -> None:
    """The documented fields and types, saliency per sampled time, moments inside and ranked."""
    from vtg.predictions import check_prediction

    recipe = RECIPES[name]
    check_prediction(record, f"{name}'s record")  # what `vtg eval` and `vtg report` accept
    assert FIELDS <= set(record), FIELDS - set(record)
    assert record["method"] == name and isinstance(record["query"], str)
    assert query is None or record["query"] == query
    assert isinstance(record["vid"], str) and record["vid"]
    assert record["qid"] is None or isinstance(record["qid"], (str, int))
    assert isinstance(record["meta"], dict)
    duration = record["duration"]
    assert isinstance(duration, float) and duration == pytest.approx(VIDEO_SECONDS, abs=0.25)
    times, scores = record["saliency_times"], record["saliency_scores"]
    assert len(times) == len(scores) == recipe.samples
    assert finite(times) and finite(scores)
    assert np.all(np.diff(times) > 0) and 0.0 <= times[0] and times[-1] <= duration
    clips = record["pred_saliency_scores"]
    assert len(clips) == math.ceil(duration / 2.0 - 1e-9) and finite(clips)
    windows = record["pred_relevant_windows"]
    assert isinstance(windows, list)
    for window in windows:
        assert len(window) == 3 and all(isinstance(x, (int, float)) for x in window)
        start, end, score = window
        assert 0.0 <= start <= end <= duration + 1e-6, window
        assert math.isfinite(score) and recipe.in_range(score), (window, recipe.score_range)
    ranked = [w[2] for w in windows]
    assert ranked == sorted(ranked, reverse=True)
    if recipe.best_is_one and windows:
        assert ranked[0] == pytest.approx(1.0)
    assert_no_internal_error(json.dumps(record))


def check_same(record: dict, expected: dict) -> None:
    """Another front end's record for the same method, video and query: same result."""
    assert record["duration"] == pytest.approx(expected["duration"])
    got, want = record["pred_relevant_windows"], expected["pred_relevant_windows"]
    assert len(got) == len(want), (got, want)
    if want:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    for key in ("saliency_times", "saliency_scores", "pred_saliency_scores"):
        np.testing.assert_allclose(record[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def api_record(name: str, models: TinyModels, video: Path, api_records: dict[str, dict]) -> dict:
    if name not in api_records:
        api_records[name] = via_api(name, models, video)
    return api_records[name]


# -- the tests ---------------------------------------------------------------------------------------
def test_every_vtg_method_is_registered() -> None:
    """The parametrisation below is over the registry; vtg's own methods must all be in it."""
    assert {"tfvtg", "numpro", "timemarker", "vtgllm", "univtg", "moment_detr", "qd_detr", "cg_detr",
            "refine"} <= set(METHODS)


def test_a_method_without_a_recipe_fails_rather_than_skips() -> None:
    with pytest.raises(pytest.fail.Exception, match="no tiny-model recipe"):
        recipe_of("a-plugin-method-nobody-wrote-a-recipe-for")


@pytest.mark.parametrize("name", METHODS)
def test_score_meaning_states_the_range_the_recipe_checks(name: str) -> None:
    recipe = recipe_of(name)
    meaning = method_class(name).score_meaning
    assert meaning.strip(), f"{name} does not say what its scores mean"
    assert recipe.score_says in meaning, (meaning, recipe.score_says)


@by_method
def test_api(method: str, models: TinyModels, video: Path, api_records: dict[str, dict]) -> None:
    import vtg

    record = api_record(method, models, video, api_records)
    check_record(record, method)
    # several queries in one call equal single calls (Method.ground_many's promise)
    recipe = RECIPES[method]
    options: dict[str, Any] = {**recipe.operator(models), **recipe.line}
    many = vtg.ground(video, ["a red car", QUERY], method=method, top_k=TOP_K, **options)
    assert [g.query for g in many] == ["a red car", QUERY]
    check_same(json.loads(json.dumps(many[1].to_dict())), record)
    if RECIPES[method].answer is not None:  # the scripted answer ran past the end: clipped
        assert record["pred_relevant_windows"] and record["pred_relevant_windows"][0][1] == pytest.approx(
            record["duration"])


@by_method
def test_cli(method: str, models: TinyModels, video: Path, api_records: dict[str, dict],
             capsys: pytest.CaptureFixture[str]) -> None:
    record = via_cli(method, models, video, capsys)
    check_record(record, method)
    check_same(record, api_record(method, models, video, api_records))


@by_method
def test_batch(method: str, models: TinyModels, video: Path, api_records: dict[str, dict], tmp_path: Path,
               capsys: pytest.CaptureFixture[str]) -> None:
    from vtg.predictions import check_prediction

    good, errors = via_batch(method, models, video, tmp_path, capsys)
    assert good["status"] == "ok" and good["qid"] == "good"
    check_record(good, method)
    check_same(good, api_record(method, models, video, api_records))
    for key, (_, says) in bad_lines(video).items():
        record = errors[key]
        assert record["status"] == "error" and record["error_kind"] == "input", record
        assert re.search(says, record["error"]), (key, record["error"])
        assert "Traceback" not in record["error"]
        check_prediction(record, f"{method}'s error record for the {key} line")


@by_method
def test_server(method: str, models: TinyModels, video: Path, api_records: dict[str, dict],
                caplog: pytest.LogCaptureFixture) -> None:
    record, (status, missing) = via_server(method, models, video)
    assert_no_internal_error(caplog.text)
    check_record(record, method)
    check_same(record, api_record(method, models, video, api_records))
    assert 400 <= status < 500 and isinstance(missing.get("error"), str), (status, missing)
    assert_no_internal_error(json.dumps(missing))


# -- query by example image: every front end answers it alike, or refuses it alike ----------------
@pytest.fixture(scope="module")
def image(video: Path) -> Path:
    """A frame of the video's green scene (t = 3 s) as a PNG beside it (inside the served folder)."""
    from PIL import Image

    from vtg.video import read_frames

    png = video.parent / "green.png"
    Image.fromarray(read_frames(video, fps=1).frames[3]).save(png)
    return png


def image_via_api(name: str, models: TinyModels, video: Path, image: Path) -> dict | str:
    import vtg
    from vtg.errors import VtgError

    recipe = RECIPES[name]
    options: dict[str, Any] = {**recipe.operator(models), **recipe.line}
    try:
        result = vtg.ground(video, image=image, method=name, top_k=TOP_K, **options)
    except VtgError as exc:
        return str(exc)
    return json.loads(json.dumps(result.to_dict(), allow_nan=False))


def image_via_cli(name: str, models: TinyModels, video: Path, image: Path,
                  capsys: pytest.CaptureFixture[str]) -> dict | str:
    from vtg.cli.main import main

    recipe = RECIPES[name]
    capsys.readouterr()
    code = main(["ground", str(video), "--image", str(image), "-m", name, "--json", "--no-progress", "-k",
                 str(TOP_K), *option_flags({**recipe.operator(models), **recipe.line})])
    out, err = capsys.readouterr()
    assert_no_internal_error(out + err)
    if code != 0:
        assert err.startswith("vtg: error: ") and len(err.strip().splitlines()) == 1, err
        return err
    parsed = json.loads(out)
    return parsed[0] if isinstance(parsed, list) else parsed


def image_via_batch(name: str, models: TinyModels, video: Path, image: Path, folder: Path,
                    capsys: pytest.CaptureFixture[str]) -> dict | str:
    from vtg.cli.main import main

    recipe = RECIPES[name]
    source, output = folder / "images.jsonl", folder / "predictions.jsonl"
    line = {"qid": "image", "video": str(video), "image": str(image), "options": recipe.line}
    source.write_text(json.dumps(line) + "\n", encoding="utf-8")
    capsys.readouterr()
    main(["batch", str(source), "-o", str(output), "-m", name, "--no-progress", "-k", str(TOP_K),
          *option_flags(recipe.operator(models))])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert_no_internal_error(out + err + output.read_text(encoding="utf-8"))
    [record] = map(json.loads, output.read_text(encoding="utf-8").splitlines())
    if record["status"] == "error":
        assert record["error_kind"] == "input", record
        return str(record["error"])
    return dict(record)


def image_via_server(name: str, models: TinyModels, video: Path, image: Path) -> dict | str:
    app, options = served(name, models, video)
    status, body = asgi_request(app, "POST", "/ground", {"video": video.name, "image": image.name, "top_k": TOP_K,
                                                        "options": options})
    assert_no_internal_error(json.dumps(body))
    if status != 200:
        assert 400 <= status < 500 and isinstance(body.get("error"), str), (status, body)
        return str(body["error"])
    return body


@by_method
def test_image_query(method: str, models: TinyModels, video: Path, image: Path, tmp_path: Path,
                     capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    """A method that declares ``supports_image_query`` answers an example image the same through
    every front end; one that does not refuses it in every front end with an input error naming
    the image query (a one-line ``vtg: error:``, an error record, a 4xx JSON body)."""
    answers = {"api": image_via_api(method, models, video, image),
               "cli": image_via_cli(method, models, video, image, capsys),
               "batch": image_via_batch(method, models, video, image, tmp_path, capsys),
               "server": image_via_server(method, models, video, image)}
    assert_no_internal_error(caplog.text)
    if not method_class(method).supports_image_query:
        for front_end, answer in answers.items():
            assert isinstance(answer, str) and "image" in answer, (front_end, answer)
        return
    expected = answers["api"]
    assert isinstance(expected, dict), expected
    for front_end, answer in answers.items():
        assert isinstance(answer, dict), (front_end, answer)
        check_record(answer, method, query=None)
        check_same(answer, expected)
