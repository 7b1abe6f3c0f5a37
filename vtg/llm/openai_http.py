"""``--llm-url URL [--llm openai:<model>]``: any OpenAI-compatible chat endpoint over plain HTTP.

Works with vLLM (``vllm serve``), llama.cpp's ``llama-server``, Ollama and hosted services:
POST ``<url>/chat/completions`` (the URL is the API base, e.g. ``http://localhost:8000/v1``; a
URL already ending in ``/chat/completions`` is used as is). Without a model name the first one
listed by ``<url>/models`` is used. An ``OPENAI_API_KEY`` in the environment is sent as a bearer
token. Only the standard library (urllib) is used.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from vtg.errors import UsageError
from vtg.llm.chat import ChatBackend, Unreachable
from vtg.llm.parse import AnswerError

MAX_RESPONSE = 4 << 20


class OpenAIBackend(ChatBackend):
    name = "openai"

    def __init__(self, url: str, model: str | None = None, *, timeout: float = 120.0, retries: int = 2,
                 max_tokens: int = 1024):
        super().__init__(retries)
        url = (url or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--llm-url must be an http(s) URL such as http://localhost:8000/v1, got {url!r}")
        self.endpoint = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.base = self.endpoint[: -len("/chat/completions")]
        self.model = model or None
        self.timeout = float(timeout)
        self.max_tokens = int(max_tokens)
        self.name = f"openai:{model}" if model else "openai"

    def _request(self, url: str, payload: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read(MAX_RESPONSE + 1)
        except urllib.error.HTTPError as exc:
            raise Unreachable(f"HTTP {exc.code} from {url}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise Unreachable(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
        if len(body) > MAX_RESPONSE:
            raise AnswerError("the server's response is too large")
        try:
            return json.loads(body.decode("utf-8", errors="replace"))
        except json.JSONDecodeError:
            raise AnswerError("the server's response is not JSON") from None

    def _model_name(self) -> str:
        if self.model is None:
            try:
                listed = self._request(self.base + "/models").get("data") or []
                self.model = str(listed[0]["id"]) if listed and isinstance(listed[0], dict) else "default"
            except (Unreachable, AnswerError, AttributeError, KeyError, TypeError):
                self.model = "default"
        return self.model

    def complete(self, messages: list[dict[str, str]], attempt: int) -> str:
        payload = {"model": self._model_name(), "messages": messages, "max_tokens": self.max_tokens,
                   "temperature": 0.0 if attempt == 0 else 0.7}
        reply = self._request(self.endpoint, payload)
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise AnswerError("the server's reply has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise AnswerError("the reply's content is not text")
        return content
