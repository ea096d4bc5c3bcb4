"""Text for the ear: what an LLM writes for the eye, rewritten the way a person says it.

A TTS voice given "Open 9:00-17:30, $4.50 entry" reads the symbols as best it can ("nine zero
zero"); ``to_spoken`` gives it "Open nine a.m. to five thirty p.m., four dollars and fifty cents
entry". English only. The function is pure, idempotent (its output comes back unchanged), and
keeps punctuation so the voice's pauses stay. What it cannot read with confidence ("1/12": the
first of December or the twelfth of January?) it leaves as written.

It needs whole clauses: "9" and ":30" arriving as separate LLM tokens would be read as two
numbers. ``voicebot.text.spoken_filter`` applies it to what the TTS service has aggregated.
"""

from __future__ import annotations

import re

from voicebot.text.number_words import (
    amount,
    cardinal,
    digits,
    nominal,
    number,
    ordinal,
    plural,
    spell,
    year,
)
from voicebot.text.spoken_markup import (
    ABBREVIATION_RULES,
    AT_END,
    MARKUP_RULES,
    Rule,
    apply,
    join_lines,
)

# A number starts where it is not glued to a word, a decimal point, a thousands comma or a
# slash ("1/12" stays whole), and ends the same way. Quantifiers are possessive, and every
# pattern can start only at the start of a digit run, so matching stays linear.
B = r"(?<![\w.,/])"
E = r"(?![\w/]|[.,]\d)"
NUM = r"(?:\d{1,3}(?:,\d{3})++|\d++)(?:\.\d++)?"
SNUM = rf"[-−]?{NUM}"
AMOUNT = rf"{SNUM}(?:[ \t]?[-–][ \t]?{NUM})?"  # "5", "-1.5", "1,250", "5-10"
MER = r"[aApP]\.?[mM](?:\.|\b)"  # am, pm, a.m., PM
YEAR = r"1[1-9]\d\d|20\d\d"
MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)


# --- dates and times -------------------------------------------------------------------------


def _month(name: str) -> str:
    return next(m for m in MONTHS if m.startswith(name[:3]))


def _date(month: str, day: str, year_text: str | None) -> str:
    spoken = f"{_month(month)} {ordinal(int(day))}"
    return f"{spoken}, {year(int(year_text))}" if year_text else spoken


def _iso_date(m: re.Match[str]) -> str:
    y, mo, d = (int(g) for g in m.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m.group(0)
    return _date(MONTHS[mo - 1], str(d), str(y))


def _month_day(m: re.Match[str]) -> str:
    if not 1 <= int(m.group(2)) <= 31:
        return m.group(0)
    return _date(m.group(1), m.group(2), m.group(3))


def _day_month(m: re.Match[str]) -> str:
    if not 1 <= int(m.group(1)) <= 31:
        return m.group(0)
    the = "" if m.string[max(0, m.start() - 4) : m.start()].lower() == "the " else "the "
    spoken = f"{the}{ordinal(int(m.group(1)))} of {_month(m.group(2))}"
    return f"{spoken}, {year(int(m.group(3)))}" if m.group(3) else spoken


def _month_abbr(m: re.Match[str]) -> str:
    """ "Dec." on its own (a clause cut after it, or no day given) is still December."""
    return _month(m[1]) + ("." if AT_END.match(m.string, m.end()) else "")


def _clock(hour: str, minute: str | None, mer: str | None, *, am: bool = False) -> str | None:
    """ "9", "30", None → "nine thirty"; 24-hour times get "p.m."; None if it is no time."""
    h, mins = int(hour), int(minute or 0)
    if h > 23 or mins > 59 or (mer and not minute and not 1 <= h <= 12):
        return None
    half = ("p.m." if mer[0] in "pP" else "a.m.") if mer else None
    if not half and h >= 13:
        h, half = h - 12, "p.m."
    elif h == 0 and not mins and not half:
        return "midnight"
    elif h == 0 or h > 12:
        h, half = (12 if h == 0 else h - 12), half or "a.m."
    elif am and h < 12:
        half = "a.m."
    words = cardinal(h)
    if mins:
        words += f" oh {cardinal(mins)}" if mins < 10 else f" {cardinal(mins)}"
    return f"{words} {half}" if half else words


_AT = re.compile(r"\b(?i:at|from|until|till|by|before|after|around) $")


def _time(m: re.Match[str]) -> str:
    """ "9:30", "9am", "9.30pm"; "9.30" only after "at", "from"... (else it is a decimal)."""
    hour, sep, minute, mer = m.groups()
    after_at = sep == "." and _AT.search(m.string, max(0, m.start() - 7), m.start())
    if not (mer or sep == ":" or after_at):
        return m.group(0)
    return _clock(hour, minute, mer) or m.group(0)


def _time_range(m: re.Match[str]) -> str:
    """ "9am-6pm", "9:00 to 17:30", "9-11am": one end needs a colon or am/pm to be a time."""
    h1, s1, m1, r1, h2, s2, m2, r2 = m.groups()
    if not (r1 or r2 or ":" in (s1, s2)):
        return m.group(0)
    # "9:00-17:00": the morning end of a 24-hour range is a.m. as well.
    am1 = bool(m1 and m2 and not r1 and not r2 and int(h2) >= 13)
    first, second = _clock(h1, m1, r1, am=am1), _clock(h2, m2, r2)
    return f"{first} to {second}" if first and second else m.group(0)


_TIME = rf"(\d{{1,2}})(?:([:.])(\d\d))?(?:[ \t]?({MER}))?"
DATE_TIME_RULES: list[Rule] = [
    (re.compile(rf"{B}(\d{{4}})-(\d\d)-(\d\d){E}"), _iso_date),
    (
        re.compile(rf"\b({MONTH})[ \t]+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?[ \t]+({YEAR}))?{E}"),
        _month_day,
    ),
    (re.compile(rf"\b({MONTH})[ \t]+({YEAR}){E}"), lambda m: f"{_month(m[1])} {year(int(m[2]))}"),
    (
        re.compile(
            rf"{B}(\d{{1,2}})(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?({MONTH})(?:,?[ \t]+({YEAR}))?{E}"
        ),
        _day_month,
    ),
    (
        re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.(?!\w)"),
        lambda m: _month_abbr(m),
    ),
    (
        re.compile(
            rf"(?<![\w.,/:]){_TIME}[ \t]*(?:[-–—]|\b(?:to|until|till)\b)[ \t]*{_TIME}(?![\w:])"
        ),
        _time_range,
    ),
    (re.compile(rf"(?<![\w.,/:]){_TIME}(?![\w:])"), _time),
]

# --- money, units, percentages ---------------------------------------------------------------

_CURRENCY = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
}
_SCALE = {"k": "thousand", "K": "thousand", "M": "million", "mn": "million", "B": "billion"}
_SCALE |= {"bn": "billion", "thousand": "thousand", "million": "million", "billion": "billion"}


def _money(m: re.Match[str]) -> str:
    """ "$4.50" → "four dollars and fifty cents", "$0.99" → "ninety-nine cents", "$1.5M" →
    "one point five million dollars"."""
    sign, symbol, whole, frac, scale = m.groups()
    one, many, cent, cents = _CURRENCY[symbol]
    value = whole + (f".{frac}" if frac else "")
    if scale:
        return f"{sign and 'minus '}{number(value)} {_SCALE[scale]} {many}"
    if len(whole) > 15:
        return f"{sign and 'minus '}{number(value)} {many}"
    units = int(whole.replace(",", ""))
    if frac and len(frac) <= 2 and cent:
        sub = int(frac.ljust(2, "0"))
        parts = [f"{cardinal(units)} {one if units == 1 else many}"] if units or not sub else []
        parts += [f"{cardinal(sub)} {cent if sub == 1 else cents}"] if sub else []
        return ("minus " if sign else "") + " and ".join(parts)
    return f"{sign and 'minus '}{number(value)} {one if value == '1' else many}"


_UNITS = {
    "min": "minute", "mins": "minute", "hr": "hour", "hrs": "hour", "sec": "second",
    "secs": "second", "ms": "millisecond", "km": "kilometer", "kg": "kilogram",
    "cm": "centimeter", "mm": "millimeter", "mg": "milligram", "ml": "milliliter",
    "mL": "milliliter", "oz": "ounce", "GB": "gigabyte", "MB": "megabyte", "TB": "terabyte",
    "KB": "kilobyte", "kW": "kilowatt", "kWh": "kilowatt hour", "lb": "pound", "lbs": "pound",
    "°": "degree",
}  # fmt: skip
_UNITS_IRREGULAR = {
    "ft": ("foot", "feet"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
}
_UNIT = (
    r"km/h|kph|kWh|kW|°[ \t]?[CF]|°|mins?|hrs?|secs?|ms|km|kg|cm|mm|mg|mL|ml|lbs?|oz|ft|mph|[GMTK]B"
)
_PER = {"hr": "hour", "h": "hour", "min": "minute", "wk": "week", "mo": "month", "yr": "year"}


def _unit(m: re.Match[str]) -> str:
    key = re.sub(r"[ \t]", "", m.group(2))
    one, many = _UNITS_IRREGULAR.get(key) or (_UNITS[key], _UNITS[key] + "s")
    return f"{amount(m.group(1))} {one if m.group(1) == '1' else many}"


QUANTITY_RULES: list[Rule] = [
    (
        re.compile(
            r"(?<![\w.,])([-−]?)([$£€¥])[ \t]?(\d{1,3}(?:,\d{3})++|\d++)(?:\.(\d++))?"
            r"(?:[ \t]?(k|K|M|mn|B|bn|thousand|million|billion)\b)?(?!\w|[.,]\d)"
        ),
        _money,
    ),
    (re.compile(r"\b(dollars|pounds|euros|cents|pence)[ \t]?[-–][ \t]?(?=\w)"), r"\1 to "),
    (re.compile(r"\b24/7\b"), "twenty-four seven"),
    (
        re.compile(
            r"(?<=[\w%])/(hour|hr|h|day|night|week|wk|month|mo|year|yr|person|min|minute)\b"
        ),
        lambda m: f" per {_PER.get(m[1], m[1])}",
    ),
    (re.compile(rf"{B}({AMOUNT})[ \t]?%"), lambda m: f"{amount(m[1])} percent"),
    (re.compile(rf"{B}({AMOUNT})[ \t]?({_UNIT})(?![\w/])"), _unit),
]

# --- numbers read digit by digit, years, ordinals, plain numbers -----------------------------


def _phone(m: re.Match[str]) -> str:
    """ "555-0123" → "five five five, oh one two three": groups keep their pauses."""
    groups = ", ".join(digits(g) for g in re.findall(r"\d+", m.group(0)))
    return f"plus {groups}" if m.group(0).startswith("+") else groups


_NAMED = r"(?i:room|suite|gate|flight|platform|apartment|apt\.?|unit|terminal|track|route)"
NUMBER_RULES: list[Rule] = [
    (
        re.compile(
            r"(?<![\w.,/+-])(?:\+\d{1,3}(?:[ .-]\(?\d{1,4}\)?){2,5}"
            r"|(?:\d{1,3}[ .-])?(?:\(\d{3}\)[ \t]?|\d{3}[.-])\d{3}[.-]\d{4}|\d{3}-\d{4})"
            rf"{E}"
        ),
        _phone,
    ),
    (
        re.compile(rf"\b((?i:call|dial|text|ring)[ \t]+)(\d{{3,}}){E}"),
        lambda m: m[1] + digits(m[2]),
    ),
    (re.compile(rf"\b({_NAMED}[ \t]+)(\d{{3,4}}){E}"), lambda m: m[1] + nominal(m[2])),
    (re.compile(rf"{B}(\d{{7,}}){E}"), lambda m: digits(m[1])),
    (re.compile(rf"{B}({YEAR})s\b"), lambda m: plural(year(int(m[1])))),
    (
        re.compile(r"(?<![\w.,/])['’]?([1-9]0)s\b"),
        lambda m: plural(cardinal(int(m[1]))),
    ),
    (
        re.compile(
            r"\b((?i:in|since|until|till|by|from|before|after|during|circa|year|early|late)"
            rf"[ \t]+|mid-)({YEAR}){E}"
        ),
        lambda m: m[1] + year(int(m[2])),
    ),
    (re.compile(rf"{B}({YEAR})[ \t]?[-–—][ \t]?({YEAR}){E}"), lambda m: _year_range(m)),
    (re.compile(r"#(?=\d)"), "number "),
    (re.compile(rf"{B}(\d{{1,15}})(?:st|nd|rd|th)\b"), lambda m: ordinal(int(m[1]))),
    (
        re.compile(rf"\b((?i:version|v)[ \t]?)(\d++(?:\.\d++){{1,5}}){E}"),
        lambda m: _version(m[2], m[1]),
    ),
    (re.compile(rf"{B}\d++(?:\.\d++){{2,5}}{E}"), lambda m: _version(m[0])),
    (re.compile(rf"{B}({SNUM})[ \t]?[-–—][ \t]?({NUM}){E}"), lambda m: _range(m)),
    (re.compile(rf"{B}{SNUM}{E}"), lambda m: number(m[0])),
]


def _version(text: str, prefix: str = "") -> str:
    """ "v3.11", "version 3.11", "1.2.3": each part a number ("three point eleven")."""
    prefix = "version " if prefix.strip() in ("v", "V") else prefix
    return prefix + " point ".join(spell(part) for part in text.split("."))


def _year_range(m: re.Match[str]) -> str:
    a, b = int(m[1]), int(m[2])
    return f"{year(a)} to {year(b)}" if a < b else m[0]


_HOURS_BEFORE = re.compile(r"(?i:day|open|opens|hours|from)\W{0,3}$")


def _range(m: re.Match[str]) -> str:
    """ "3-5" → "three to five"; "3-2" (a score?) is left for the numbers to be read apart,
    unless it follows a day or "open" ("Friday: 9-5": hours round the clock)."""
    a, b = (float(x.replace(",", "").replace("−", "-")) for x in m.groups())
    hours = _HOURS_BEFORE.search(m.string, max(0, m.start() - 12), m.start())
    return f"{number(m[1])} to {number(m[2])}" if a <= b or hours else m[0]


_CLEANUP: list[Rule] = [
    (re.compile(r"(?<![ \t])[ \t]{2,}"), " "),
    (re.compile(r"(?<![ \t])[ \t]++(?=[,.;:!?](?!\w))"), ""),
    (re.compile(r"(?<=\b[ap]\.m\.)\.(?!\.)"), ""),  # "at 14:00." → "at two p.m."
]


# Markup meant for the TTS itself (Cartesia's <spell>4111</spell>, SSML <break time="1s"/>)
# is passed on untouched, with what a <spell> holds.
_TTS_TAG = re.compile(r"<spell>[^<]{0,500}</spell>|</?[A-Za-z][^<>\n]{0,200}>")


def to_spoken(text: str) -> str:
    """Rewrite ``text`` the way it is said aloud (English); whitespace around it is kept."""
    out, start = [], 0
    for tag in _TTS_TAG.finditer(text):
        out += [_spoken(text[start : tag.start()]), tag.group(0)]
        start = tag.end()
    return "".join([*out, _spoken(text[start:])])


def _spoken(text: str) -> str:
    core = text.strip()
    if not core:
        return text
    lead, trail = text[: text.index(core[0])], text[text.rindex(core[-1]) + 1 :]
    out = join_lines(apply(MARKUP_RULES, core))
    for rules in (ABBREVIATION_RULES, DATE_TIME_RULES, QUANTITY_RULES, NUMBER_RULES, _CLEANUP):
        out = apply(rules, out)
    return lead + out.strip() + trail
