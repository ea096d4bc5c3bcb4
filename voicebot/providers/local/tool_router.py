"""Tool calling for small local models: route by similarity, extract arguments under a grammar.

A small local model (0.1–1.5 B parameters) cannot be trusted to pick a tool and emit valid
JSON on its own: it invents tool names, drifts out of JSON, or calls tools for small talk
(docs/offline.md, "Tool calling offline"). So the two decisions are split:

1. **Which tool, if any**: the request is embedded (all-mpnet-base-v2 or, if that is not
   installed, all-MiniLM-L6-v2, on numpy: ``tool_embeddings``) and compared with each
   tool's name, description and parameter names; below ``threshold`` no tool is called and
   the model just answers. Without an embedding model installed, TF-IDF word overlap
   (``LexicalToolRouter``) does it, which only finds a tool when the caller uses the tool's
   own words. Scoring the tools with the loaded LLM instead was measured and not kept
   (docs/offline.md, "Tool calling offline").
2. **The arguments**: the model fills in the chosen tool's JSON schema under a llama.cpp
   grammar compiled from that schema, so its output matches the schema (types, enums,
   required fields) unless it is cut off at ``max_tokens``; then no tool is called.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from loguru import logger

from voicebot.knowledge.embeddings import Embedder
from voicebot.providers.local.tool_embeddings import (
    group_similarities,
    margin_scores,
    shared_embedder,
)

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
    """What the router knows of a tool: its name, description, JSON schema and the phrases
    its author gave as examples of what callers say (``@tool(examples=...)``)."""

    name: str
    description: str
    parameters: dict[str, Any]
    examples: tuple[str, ...] = ()

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
            examples=tuple(getattr(schema, "examples", ()) or ()),
        )

    def text(self) -> str:
        params = " ".join(
            f"{k} {v.get('description', '')} {' '.join(map(str, v.get('enum', [])))}"
            for k, v in self.parameters.get("properties", {}).items()
        )
        return f"{self.name} {self.description} {params} {' '.join(self.examples)}".strip()


class LexicalToolRouter:
    """Picks the tool whose words best match a request (TF-IDF cosine), or none."""

    method = "lexical"

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


def name_words(name: str) -> str:
    """``bookAppointment`` / ``book_appointment`` -> ``book appointment``."""
    return re.sub(r"([a-z])([A-Z])", r"\1 \2", name).replace("_", " ").lower()


def tool_texts(tool: ToolSpec) -> tuple[str, ...]:
    """What a tool is compared with: its name, description and parameter names together,
    and the description alone (a request rarely sounds like a function name).

    Measured on the dev sets (benchmarks/offline_tool_routing.py): adding synthetic requests
    ("I want to <name>", "Can you <description>?") or per-parameter texts routed worse."""
    description = tool.description.strip().rstrip(".")
    params = " ".join(name_words(p) for p in tool.parameters.get("properties", {}))
    texts = [f"{name_words(tool.name)}: {description}. {params}".strip()]
    if description:
        texts.append(description)
    return tuple(texts)


#: (threshold, margin_weight) per embedder, chosen on the tuning sets of
#: benchmarks/offline_tool_routing.py: the middle of the plateau of best settings, not its
#: edge. Another embedder (a test's wrapper) gets MiniLM's.
CALIBRATION: dict[str, tuple[float, float]] = {
    "all-mpnet-base-v2": (0.35, 0.75),
    "all-MiniLM-L6-v2": (0.30, 0.5),
}

#: With ``examples``, a tool's similarity is ``EXAMPLE_WEIGHT`` times the mean of its
#: ``EXAMPLES_TOP`` nearest examples plus the rest times its description's; and
#: (threshold, margin_weight) for that mix. Chosen on the thirteen tuning sets
#: (docs/offline.md, "Examples", where each set's examples were written by someone who
#: never saw its requests): 361/381 right with mpnet, against 354 for the best example
#: alone at 0.6 (session 9's choice); the middle of a plateau, not its edge.
EXAMPLE_WEIGHT = 0.8
EXAMPLES_TOP = 3
CALIBRATION_WITH_EXAMPLES: dict[str, tuple[float, float]] = {
    "all-mpnet-base-v2": (0.48, 0.5),
    "all-MiniLM-L6-v2": (0.38, 0.5),
}
#: Fewer tools, higher threshold: with two or three tools a question near one of them ("what
#: time do you open on monday" beside ``book_appointment``) leads the others by more than it
#: would among six, and was called 25 % of the time (description-only, mpnet). Per embedder:
#: (step per tool below six, threshold for a single tool, which has no lead to add), without
#: and with examples. Chosen on every 1- to 5-tool subset of the tuning sets (a request for a
#: tool left out needs no tool): right choices at 2 and 3 tools 73/71 % -> 86/80 % without
#: examples, 89/87 % -> 92/90 % with them (docs/offline.md, "Few tools").
FEW_TOOLS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "all-mpnet-base-v2": ((0.04, 0.44), (0.02, 0.50)),
}
_warned_partial: set[frozenset[str]] = set()


def calibrated_threshold(embedder_name: str, tools: int, *, examples: bool) -> float:
    """The embedder's threshold for a tool set of this size (``CALIBRATION``,
    ``CALIBRATION_WITH_EXAMPLES`` and ``FEW_TOOLS``)."""
    table = CALIBRATION_WITH_EXAMPLES if examples else CALIBRATION
    base = table.get(embedder_name, table["all-MiniLM-L6-v2"])[0]
    few = FEW_TOOLS.get(embedder_name)
    if few is None or tools < 1:
        return base
    step, single = few[1] if examples else few[0]
    return single if tools == 1 else round(base + step * max(0, 6 - tools), 4)


def warn_if_partial_examples(tools: list[ToolSpec]) -> None:
    """Once per tool set: some tools have examples and some do not. Routing is calibrated
    for all or none; a tool without them scores on its description alone, lower."""
    bare = frozenset(t.name for t in tools if not t.examples)
    if bare and len(bare) < len(tools) and bare not in _warned_partial:
        _warned_partial.add(bare)
        logger.warning(
            f"Tool routing: {', '.join(sorted(bare))} have no examples while other tools do; "
            "give every tool a few @tool(examples=[...]) so they are scored alike"
        )


class ToolScorer(Protocol):
    """A second opinion on the choice (``tool_scoring.LLMToolScorer``): one log-probability
    per tool and one for "none" (last), or None when it cannot score this tool set."""

    def log_probs(self, tools: list[ToolSpec], request: str) -> np.ndarray | None: ...


class ToolRouter:
    """Picks the tool a request is about, or none: by sentence embeddings (all-mpnet-base-v2,
    else all-MiniLM-L6-v2), or by word overlap (``LexicalToolRouter``, with one warning) when
    no embedding model is installed.

    A tool is called when its similarity plus ``margin_weight`` times its lead over the mean
    of the other tools reaches ``threshold``; both default to the embedder's ``CALIBRATION``,
    the threshold raised for sets of fewer than six tools (``FEW_TOOLS``).
    Embedding is CPU work: call ``route`` off the event loop. The tools' vectors are cached
    per tool set, so a router per request is cheap.

    Tools with ``examples`` are compared with them too: ``example_weight`` times the mean
    similarity of the ``examples_top`` nearest, plus the rest times the description's, with
    ``CALIBRATION_WITH_EXAMPLES``.

    With a ``scorer`` (opt-in, ~0.5 s a request with the 1.5B model), each option's score,
    "none" scoring ``threshold``, gets ``scorer_weight`` times the scorer's log-probability
    added, and the best option wins.
    """

    def __init__(
        self,
        tools: list[ToolSpec],
        *,
        embedder: Embedder | None = None,
        threshold: float | None = None,
        margin_weight: float | None = None,
        scorer: ToolScorer | None = None,
        scorer_weight: float = 0.05,
        example_weight: float = EXAMPLE_WEIGHT,
        examples_top: int = EXAMPLES_TOP,
    ) -> None:
        if not 0 <= example_weight <= 1 or examples_top < 1:
            raise ValueError(
                f"example_weight must be within 0-1 and examples_top at least 1 "
                f"(got {example_weight}, {examples_top})"
            )
        self.tools = tools
        self.example_weight = example_weight
        self.examples_top = examples_top
        self.scorer = scorer
        self.scorer_weight = scorer_weight
        self._embedder = embedder if embedder is not None else shared_embedder()
        self._lexical = LexicalToolRouter(tools) if self._embedder is None else None
        self.method = "lexical" if self._embedder is None else "embedding"
        self.embedder_name = str(getattr(self._embedder, "model_name", "all-MiniLM-L6-v2"))
        self.uses_examples = any(t.examples for t in tools)
        if self.uses_examples:
            warn_if_partial_examples(tools)
        calibration = CALIBRATION_WITH_EXAMPLES if self.uses_examples else CALIBRATION
        default_weight = calibration.get(self.embedder_name, calibration["all-MiniLM-L6-v2"])[1]
        default_threshold = calibrated_threshold(
            self.embedder_name, len(tools), examples=self.uses_examples
        )
        self.threshold = default_threshold if threshold is None else threshold
        self.margin_weight = default_weight if margin_weight is None else margin_weight

    def scores(self, request: str) -> list[tuple[str, float]]:
        """Each tool's score for ``request``, best first."""
        if self._lexical is not None:
            return self._lexical.scores(request)
        if not self.tools or not request.strip():
            return [(t.name, 0.0) for t in self.tools]
        assert self._embedder is not None
        query = self._embedder.embed([request])[0]
        sims = group_similarities(self._embedder, [tool_texts(t) for t in self.tools], query)
        if self.uses_examples:
            by_example = group_similarities(
                self._embedder, [t.examples for t in self.tools], query, top=self.examples_top
            )
            has = np.array([bool(t.examples) for t in self.tools])
            a = self.example_weight
            mixed = (1 - a) * sims + a * by_example
            sims = np.where(has, mixed, sims)
        scored = margin_scores(sims, self.margin_weight)
        return sorted(
            ((t.name, float(s)) for t, s in zip(self.tools, scored, strict=True)),
            key=lambda p: -p[1],
        )

    def route(self, request: str) -> ToolSpec | None:
        if self._lexical is not None:
            return self._lexical.route(request)
        if not self.tools or not request.strip():
            return None
        scored = dict(self.scores(request))
        options = np.array([*(scored[t.name] for t in self.tools), self.threshold])
        opinion = self.scorer.log_probs(self.tools, request) if self.scorer else None
        if opinion is not None:
            options = options + self.scorer_weight * opinion
        best = int(np.argmax(options))  # a tie with "none" goes to the tool, as before
        return None if best == len(self.tools) else self.tools[best]


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


def missing_required(tool: ToolSpec, arguments: dict[str, Any]) -> list[str]:
    """Required parameters absent from ``arguments`` (or an empty string for a string)."""
    props = tool.parameters.get("properties", {})
    return [
        name
        for name in tool.parameters.get("required", [])
        if name not in arguments
        or (props.get(name, {}).get("type") == "string" and arguments[name] == "")
    ]


def parse_arguments(tool: ToolSpec, text: str, request: str) -> dict[str, Any] | None:
    """The grammar's output as arguments, or None (logged) if it cannot be used.

    The grammar guarantees JSON only if generation ends by itself: at ``max_tokens`` a long
    string is cut off mid-way. A repaired or defaulted argument would call the tool with
    something the caller did not say, so instead no tool is called and the model answers.
    """
    try:
        parsed = json.loads(text or "{}")
    except json.JSONDecodeError:
        logger.warning(f"{tool.name}: arguments cut off or not JSON ({text!r}); not calling it")
        return None
    if not isinstance(parsed, dict):
        logger.warning(f"{tool.name}: arguments are not an object ({text!r}); not calling it")
        return None
    parsed.update(mentioned_enum_values(tool, request))
    missing = missing_required(tool, parsed)
    if missing:
        logger.warning(f"{tool.name}: no value for {', '.join(missing)}; not calling it")
        return None
    return parsed


def extract_arguments(
    llama: Any, tool: ToolSpec, request: str, *, max_tokens: int = 96
) -> dict[str, Any] | None:
    """The tool's arguments for ``request``, generated under the schema's grammar; None when
    the output is unusable (see ``parse_arguments``) and no tool should be called."""
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(
        json.dumps(grammar_schema(tool.parameters)), verbose=False
    )
    result = llama.create_chat_completion(
        argument_prompt(tool, request), grammar=grammar, temperature=0.0, max_tokens=max_tokens
    )
    return parse_arguments(tool, result["choices"][0]["message"]["content"] or "{}", request)
