"""The instructions sent to chat LLMs (our own wording of TFVTG's Sec. 3.2 prompt).

The answer format is a single JSON object so it can be parsed without guessing; the parser also
accepts the reference's ``query_json`` layout (``sub_query_id`` 0 = rewrites of the whole query).
"""

from __future__ import annotations

SYSTEM = (
    "You prepare search queries for a video search engine that can only match short, simple, "
    "visible situations against single video frames. You answer with exactly one JSON object and "
    "nothing else: no explanations before or after it, no Markdown code fences."
)

INSTRUCTIONS = """Take the video search query below and do three things.

1. Decide whether it describes one simple event or several.
   - "single-query": one event (one action or situation).
   - "sequentially": several events that happen one after the other.
   - "simultaneously": several events that happen at the same time.
2. If there are several events, list them as "sub_events" in the order they happen in the video
   (which is not always the order of the words: in "X after Y", Y comes first). Give each one
   three short descriptions of what is visible while it happens, each a complete sentence about
   a single action, without past or future. For "single-query" leave "sub_events" empty.
3. Write three "rewrites" of the whole query: different wording, exactly the same meaning,
   no added details.

Answer with this JSON object only:
{"reasoning": "<one sentence>", "relationship": "single-query" | "sequentially" | "simultaneously",
 "rewrites": ["<rewrite>", "<rewrite>", "<rewrite>"],
 "sub_events": [{"descriptions": ["<description>", "<description>", "<description>"]}]}

Example. Query: "the man closes the fridge and then drinks from a glass"
{"reasoning": "Two actions, one after the other.", "relationship": "sequentially",
 "rewrites": ["A man shuts the refrigerator, then drinks from a glass.", "After closing the fridge the man takes a drink from a glass.", "The man closes the fridge before drinking out of a glass."],
 "sub_events": [{"descriptions": ["A man closes a fridge.", "A man pushes the refrigerator door shut.", "Someone shuts the fridge door."]},
                {"descriptions": ["A man drinks from a glass.", "A man sips from a glass.", "Someone is drinking out of a glass."]}]}

Query: "{query}"
"""

RETRY = (
    "That answer could not be used ({problem}). Reply again with only the JSON object described "
    "above, with the keys reasoning, relationship, rewrites and sub_events."
)


def messages(query: str) -> list[dict[str, str]]:
    """Chat messages (system + user) asking for the decomposition of ``query``."""
    clean = " ".join(query.split()).replace('"', "'")
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": INSTRUCTIONS.replace("{query}", clean)}]


def retry_messages(previous: list[dict[str, str]], answer: str, problem: str) -> list[dict[str, str]]:
    """The conversation extended with the unusable answer and a request to fix it."""
    return previous + [{"role": "assistant", "content": answer[:4000]},
                       {"role": "user", "content": RETRY.format(problem=problem[:200])}]
