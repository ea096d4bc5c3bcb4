"""English words for numbers, the way a person reads them aloud.

Written here rather than taken from ``num2words``: that package reads 1250 as "one thousand,
two hundred and fifty" (a comma the voice pauses on), and voicebot also needs the readings it
has none of: years ("nineteen oh five"), digits ("oh one two three"), room numbers ("one oh
one").
"""

from __future__ import annotations

import re

ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
MAX_CARDINAL = 10**15 - 1
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(f"{TENS[tens]}-{ONES[ones]}" if ones else TENS[tens])
    elif rest or not hundreds:
        words.append(ONES[rest])
    return " ".join(words)


def cardinal(n: int) -> str:
    """42 → "forty-two", 1250 → "one thousand two hundred fifty" (no "and", no commas)."""
    if n < 0:
        return f"minus {cardinal(-n)}"
    if n > MAX_CARDINAL:
        return digits(str(n))
    words = []
    for size, name in SCALES:
        count, n = divmod(n, size)
        if count:
            words.append(f"{_below_thousand(count)} {name}")
    if n or not words:
        words.append(_below_thousand(n))
    return " ".join(words)


def spell(text: str) -> str:
    """A string of digits as a cardinal, or digit by digit past the trillions (where ``int``
    would also refuse a string thousands of digits long)."""
    return digits(text) if len(text) > len(str(MAX_CARDINAL)) else cardinal(int(text))


def ordinal(n: int) -> str:
    """1 → "first", 22 → "twenty-second", 100 → "one hundredth"."""
    words = cardinal(n)
    head, sep, last = max(words.rpartition(" "), words.rpartition("-"), key=lambda p: len(p[0]))
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head}{sep}{last}"


def digits(text: str) -> str:
    """Digit by digit, zero as "oh": "0123" → "oh one two three"."""
    return " ".join("oh" if d == "0" else ONES[int(d)] for d in text if d.isdigit())


def decimal(text: str) -> str:
    """ "3.5" → "three point five", "1,250.05" → "... point zero five"; a leading "-" is "minus"."""
    sign = "minus " if text[:1] in "-−" else ""
    whole, _, frac = text.lstrip("-−").replace(",", "").partition(".")
    words = spell(whole or "0")
    if frac:
        words += " point " + " ".join(ONES[int(d)] for d in frac)
    return sign + words


def year(n: int) -> str:
    """1999 → "nineteen ninety-nine", 1905 → "nineteen oh five", 2026 → "twenty twenty-six"."""
    if not 1000 <= n <= 9999 or 2000 <= n <= 2009 or n % 1000 == 0:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' + ONES[low] if low < 10 else cardinal(low)}"


def nominal(text: str) -> str:
    """A number that names something (a room, a flight): "101" → "one oh one", "1234" →
    "twelve thirty-four", as people say them; other lengths read as a cardinal."""
    n = int(text)
    if len(text) == 4 and text[0] != "0":
        return year(n)
    if len(text) == 3 and text[0] != "0" and n % 100:
        head, rest = ONES[n // 100], n % 100
        return f"{head} {'oh ' + ONES[rest] if rest < 10 else cardinal(rest)}"
    return digits(text) if text.startswith("0") else cardinal(n)


def plural(words: str) -> str:
    """Plural of a spoken number, for decades: "nineteen ninety" → "nineteen nineties"."""
    if words.endswith("y"):
        return words[:-1] + "ies"
    return words + ("es" if words.endswith("x") else "s")


def number(text: str) -> str:
    """A written number as words: "1,250" → "one thousand two hundred fifty", "-3.5" → "minus
    three point five", "007" → "oh oh seven"."""
    if "." in text:
        return decimal(text)
    sign, bare = ("minus " if text[:1] in "-−" else ""), text.lstrip("-−").replace(",", "")
    return sign + (digits(bare) if len(bare) > 1 and bare.startswith("0") else spell(bare))


def amount(text: str) -> str:
    """A number or a range of two: "5-10" → "five to ten"."""
    parts = re.split(r"(?<=\d)[ \t]?[-–][ \t]?", text, maxsplit=1)
    return " to ".join(number(part) for part in parts)
