"""What a voice must not read out: markdown, links, emoji, and the written-only shorthands
("e.g.", "Dr.", "Mon-Fri", "&", "w/").

Each rule is a compiled pattern with no nested repetition, so the time taken grows with the
length of the text and never explodes on unlucky input.
"""

from __future__ import annotations

import re
from collections.abc import Callable

Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]

_CODE_FENCE = re.compile(r"```[A-Za-z0-9_+-]*")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]\n]{0,200})\]\([^()\s]{0,500}\)")
_EMAIL = re.compile(r"\b([\w.+-]{1,64})@((?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24})\b")
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>()\"']*[^\s<>()\"'.,;:!?]")
_TLDS = "com|org|net|edu|gov|io|ai|dev|app|co|uk|us|ca|de|fr|eu|info|biz|me|tv"
_PATH = r"(?:/[^\s<>()\"']*[^\s<>()\"'.,;:!?])?"
_DOMAIN = re.compile(rf"\b(?:[A-Za-z0-9-]{{1,63}}\.){{1,8}}(?:{_TLDS})\b{_PATH}")
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_BULLET = re.compile(r"^[ \t]*(?:[-+•▪●◦‣]|>+)[ \t]+", re.MULTILINE)
_RULE_LINE = re.compile(r"^[ \t]*(?:-{3,}|_{3,}|={3,})[ \t]*$", re.MULTILINE)
_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9_])_+|(?<!_)_++(?![A-Za-z0-9])")
_HASHTAG = re.compile(r"#(?=[A-Za-z])")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3\U000e0020-\U000e007f]+"
)


def _say_domain(domain: str) -> str:
    return " dot ".join(part for part in domain.split(".") if part)


def _url(match: re.Match[str]) -> str:
    """A voice says where a link goes, not the whole of it: "example dot com"."""
    rest = re.sub(r"^(?:https?://)?(?:www\.)?", "", match.group(0))
    host = re.split(r"[/?#:]", rest, maxsplit=1)[0]
    return _say_domain(host)


def _email(match: re.Match[str]) -> str:
    return f"{_say_domain(match.group(1))} at {_say_domain(match.group(2))}"


def join_lines(text: str) -> str:
    """Lines of a list become sentences, so the voice pauses between them."""
    out = ""
    for line in (line.strip() for line in text.split("\n")):
        if line:
            out += (" " if out[-1] in ".!?,;:" else ". ") + line if out else line
    return out


MARKUP_RULES: list[Rule] = [
    (_CODE_FENCE, ""),
    (re.compile(r"`+"), ""),
    (_RULE_LINE, ""),
    (_IMAGE_OR_LINK, r"\1"),
    (re.compile(r"\*+|~~"), ""),
    (_EMAIL, _email),
    (_URL, _url),
    (_DOMAIN, _url),
    (_HEADING, ""),
    (_BULLET, ""),
    (_UNDERSCORE, ""),
    (_HASHTAG, ""),
    (_EMOJI, ""),
    (re.compile(r"\|"), " "),
]

# --- abbreviations ---------------------------------------------------------------------------

_DAYS = {
    "Mon": "Monday",
    "Tue": "Tuesday",
    "Wed": "Wednesday",
    "Thu": "Thursday",
    "Fri": "Friday",
    "Sat": "Saturday",
    "Sun": "Sunday",
}
_DAY = (
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
    r"|Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)\b\.?"
)
_DAY_JOIN = r"[ \t]*(?:[-–—/,&]|\bto\b|\bthrough\b|\bthru\b|\band\b)[ \t]*"
_DAY_RUN = re.compile(rf"\b{_DAY}(?:{_DAY_JOIN}{_DAY})+")
_MONTH_NEXT = r",?[ \t]+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DAY_BEFORE_TIME = re.compile(rf"\b{_DAY}(?=:|[ \t]*\d|{_MONTH_NEXT})")
_DAY_WORD = re.compile(_DAY)
_JOIN_WORDS = {"-": " to ", "–": " to ", "—": " to ", "/": " and ", "&": " and ", ",": ", "}


def _day(match: re.Match[str]) -> str:
    return _DAYS[match.group(0)[:3]]


def _day_run(match: re.Match[str]) -> str:
    """ "Mon-Fri" → "Monday to Friday", "Sat & Sun" → "Saturday and Sunday"."""
    parts = re.split(f"({_DAY_JOIN})", match.group(0))
    out = []
    for part in parts:
        if _DAY_WORD.fullmatch(part):
            out.append(_DAYS[part[:3]])
        else:
            out.append(_JOIN_WORDS.get(part.strip(), f" {part.strip()} "))
    return "".join(out)


def _ends_sentence(match: re.Match[str], *, capital_next: bool) -> bool:
    """Whether the abbreviation's period also ends the sentence, so it has to stay."""
    at = match.end()
    return bool(
        AT_END.match(match.string, at) or (capital_next and _CAPITAL.match(match.string, at))
    )


_CAPITAL = re.compile(r"\s+[A-Z]")
#: Where nothing but whitespace follows, or the line ends: a period there ends a sentence.
AT_END = re.compile(r"[ \t]*(?:\n|\Z)")


def _word(word: str, *, capital_next: bool = False) -> Callable[[re.Match[str]], str]:
    """An abbreviation's word, keeping its period where that period ends the sentence."""

    def replace(match: re.Match[str]) -> str:
        ends = match.group(0).endswith(".") and _ends_sentence(match, capital_next=capital_next)
        return f"{word}." if ends else word

    return replace


def _after_name(word: str) -> Callable[[re.Match[str]], str]:
    """ "Main St." → "Main Street": the name before it is kept."""
    inner = _word(word, capital_next=True)
    return lambda m: f"{m.group(1)} {inner(m)}"


ABBREVIATION_RULES: list[Rule] = [
    (re.compile(r"\b[Ee]\.g\.(?!\w)"), _word("for example")),
    (re.compile(r"\b[Ii]\.e\.(?!\w)"), _word("that is")),
    (re.compile(r"\betc\.?(?!\w)"), _word("et cetera", capital_next=True)),
    (re.compile(r"\b(?:[Aa]pprox\.|approx\b)"), _word("approximately", capital_next=True)),
    (re.compile(r"\bvs\.?(?!\w)"), _word("versus")),
    (re.compile(r"\bw/o\b"), "without"),
    (re.compile(r"\bw/(?=[ \t]*[A-Za-z])[ \t]*"), "with "),
    (re.compile(r"\bMr\.(?=\s)"), "Mister"),
    (re.compile(r"\bMrs\.(?=\s)"), "Missus"),
    (re.compile(r"\bDr\.?(?=[ \t]+[A-Z])"), "Doctor"),
    (re.compile(r"\bSt\.?(?=[ \t]+[A-Z])"), "Saint"),
    (re.compile(r"\b([A-Z][a-z]+|\d+(?:st|nd|rd|th))[ \t]+Dr\b\.?"), _after_name("Drive")),
    (re.compile(r"\b([A-Z][a-z]+|\d+(?:st|nd|rd|th))[ \t]+St\b\.?"), _after_name("Street")),
    (re.compile(r"\b([A-Z][a-z]+|\d+(?:st|nd|rd|th))[ \t]+Ave\b\.?"), _after_name("Avenue")),
    (re.compile(r"\bDr\.(?!\w)"), _word("Doctor")),
    (re.compile(r"\bNo\.[ \t]*(?=\d)"), "number "),
    (_DAY_RUN, _day_run),
    (_DAY_BEFORE_TIME, _day),
    (re.compile(r"&"), " and "),
]


def apply(rules: list[Rule], text: str) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text
