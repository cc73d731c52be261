"""Redaction of personal data from free text before it reaches the public side.

:func:`redact` replaces, in this order:

- e-mail addresses, also with spaces around the ``@`` (``jane @ example.com``), written out
  (``jane (at) example dot com``) or at a big mail provider without its domain
  (``jane.doe at gmail``) -> ``[e-mail removed]``;
- social-media handles (``@jane_doe``) -> ``[handle removed]``;
- phone numbers: North American numbers in any common layout (``(617) 555-0123``,
  ``617.555.0123``, ``+1 617 555 0123``, ``6175550123``), seven-digit local numbers
  (``555-0123``) and international ``+CC`` numbers, also with letters typed for digits
  (``617555O142``: O for 0, l or I for 1) or spelled out (``six one seven five five five ...``,
  seven number words or more in a row) -> ``[phone removed]``;
- social security numbers (``123-45-6789``) -> ``[number removed]``;
- names after "my name is", "name:", "name -", "printed for", "contact", "call", "ask for",
  "reported by", "this is", "I am", "regards", "thanks", and after titles (Mr, Mrs, Ms, Dr, Rep.,
  Sen., Councilor) -> ``[name removed]``. After "my name is" / "name:" / "printed for" any words
  are taken (people type names in lower case); after the other phrases only capitalised words,
  so "contact the city" stays as it is.

:func:`without_house_numbers` also takes house numbers out of free text (``12 Otis Place``,
``opposite #83``, ``behind 221 W. Canton``) -> ``[number removed]``: for a case whose location is
published as an area, not a point.

Control characters are dropped and the text is cut to :data:`MAX_LENGTH` characters. Redaction
errs on the side of removing too much: a public page loses a word, never a phone number.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 1000

EMAIL_MARK = "[e-mail removed]"
HANDLE_MARK = "[handle removed]"
PHONE_MARK = "[phone removed]"
NAME_MARK = "[name removed]"
NUMBER_MARK = "[number removed]"

_EMAIL = re.compile(r"[\w.%+'-]+\s*@\s*[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b", re.UNICODE)
#: "jane.doe at gmail", "jane @ yahoo": the provider says it is an e-mail address.
_EMAIL_PROVIDER = re.compile(
    r"[\w.%+'-]+\s*(?:@|\(at\)|\[at\]|\{at\}|\s+at\s+)\s*"
    r"(?:gmail|googlemail|yahoo|hotmail|outlook|aol|icloud|comcast|verizon|msn|protonmail)\b",
    re.IGNORECASE,
)
#: "jane.doe (at) example (dot) com", "jane at example dot org"
_EMAIL_SPELLED = re.compile(
    r"[\w.%+'-]+\s*(?:\(at\)|\[at\]|\{at\}|\s+at\s+)\s*[\w-]+"
    r"(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|\s+dot\s+|\.)\s*[\w-]+)*"
    r"\s*(?:\(dot\)|\[dot\]|\{dot\}|\s+dot\s+|\.)\s*"
    r"(?:com|org|net|edu|gov|us|io|co|info|biz|me|uk|ca)\b",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w.@])@[A-Za-z0-9_]{2,}")
_SEP = r"[\s.\-\u2010-\u2015\u2212/]*"
_PHONES = (
    # +44 20 7946 0958, +353-1-555-0100 (international, with the plus)
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.\-]?\(?\d{1,4}\)?){2,5}(?!\w)"),
    # (617) 555-0123, 617-555-0123, 617.555.0123, 1 617 555 0123, 6175550123
    re.compile(
        rf"(?<![\w])(?:1{_SEP})?(?:\(\s*\d{{3}}\s*\)|\d{{3}}){_SEP}\d{{3}}{_SEP}\d{{4}}"
        r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?!\w)",
        re.IGNORECASE,
    ),
    # 555-0123, 555.0123 (a local number; a plain "5550123" could be anything)
    re.compile(r"(?<![\w.\-])\d{3}[.\-\u2010-\u2015\u2212]\d{4}(?![\w\-]|\.\d)"),
)

#: Letters typed for digits in a phone number: O for 0, l and I for 1 (one for one, so the
#: positions of a match in the translated text are the positions in the text).
_LOOKALIKE = str.maketrans({"O": "0", "o": "0", "l": "1", "I": "1"})
_NUMBER_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine)"
#: "six one seven five five five zero one four two": seven number words or more in a row.
_SPELLED_PHONE = re.compile(rf"\b{_NUMBER_WORD}(?:[\s,.\-]+{_NUMBER_WORD}){{6,}}\b", re.IGNORECASE)
_SSN = re.compile(r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])")

_NAME_WORD = r"[^\W\d_][\w'’.\-]*"
_CAP_WORD = r"[A-Z][\w'’\-]*\.?"
#: Words that end a name typed in lower case ("my name is jane and I live ...").
_STOP = frozenset(
    "a an and at but by call calling email e-mail for from here i i'm im in is my of on or "
    "phone please reporting the tel thanks to who with".split()
)
_ANY_NAME = re.compile(
    r"(?i:\b(?:my\s+name\s+is|my\s+name's|name\s*[:\-\u2013\u2014]|names?\s+is|printed\s+for)"
    r"\s*:?\s*)"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
)
_CAP_NAME = re.compile(
    r"(?i:\b(?:contact(?:\s+person)?|call(?:\s+back)?|caller|ask\s+for|reported\s+by|"
    r"submitted\s+by|this\s+is|i\s+am|i'm|regards|thanks|thank\s+you|sincerely|signed|"
    r"tenant|resident|owner|landlord|neighbou?r)\b\s*[:,\-]?\s*)"
    rf"(?P<name>{_CAP_WORD}(?:\s+{_CAP_WORD}){{0,2}})"
)
_TITLE_NAME = re.compile(
    r"\b(?i:mr\.?|mrs\.?|ms\.?|miss|mx\.?|dr\.|prof\.|rep\.|sen\.|councill?or)\s+"
    rf"(?P<name>{_CAP_WORD}(?:\s+{_CAP_WORD}){{0,1}})"
)
#: Capitalised words that follow "this is" / "I am" but are not names.
_NOT_NAMES = frozenset(
    "A An The Not Very So Still Again Also Writing Calling Reporting Requesting Concerned "
    "Unable Happy Sorry Glad Here There It This That City Boston Street".split()
)


#: Words that end a street name: a number a few words before one is a house number.
_STREET_WORD = (
    r"(?:st|street|ave?|avenue|rd|road|pl|place|ter|terrace|way|ct|court|sq|square|blvd|"
    r"boulevard|dr|drive|ln|lane|pkwy|parkway|cir|circle|plz|plaza|hwy|highway|aly|alley)"
)
_HOUSE_NUMBER = r"\d+[A-Za-z]?(?:\s*-\s*\d+[A-Za-z]?)?(?!\w)"
_HOUSE_NUMBERS = (
    # "opposite #83", "Long Wharf #60", "light out # 10"
    re.compile(r"(?P<number>#\s*\d+[A-Za-z]?)(?!\w)"),
    # "12 Otis Place", "Knock Down 280 Harrison Ave", "38 W. Milton Street", "1153-1155 Dorchester Ave"
    re.compile(
        rf"(?<![\w\-/.])(?<!route\s)(?<!rte\s)(?<!hwy\s)(?P<number>{_HOUSE_NUMBER})"
        rf"(?=\s+(?:\w[\w'.&-]*\s+){{0,3}}{_STREET_WORD}\b)",
        re.IGNORECASE,
    ),
    # "behind 221 W. Canton", "in front of 38", "at 195"
    re.compile(
        r"(?i:\b(?:at|behind|opposite|opp\.?|in\s+front\s+of|near|outside|across\s+from)\s+)"
        rf"(?P<number>{_HOUSE_NUMBER})"
    ),
)


def without_house_numbers(text: str | None) -> str | None:
    """``text`` without house numbers (``12 Otis Place`` -> ``[number removed] Otis Place``): a
    number a few words before a street word (St, Ave, Place...), after ``#``, or after "at",
    "behind", "opposite", "near"... For the free text of a case whose location is published as
    an area, so that the text does not give the address the location leaves out. Errs towards
    removing a number too many ("at 5 pm")."""
    if not text:
        return text

    def mark(match: re.Match[str]) -> str:
        whole, start = match.group(0), match.start("number") - match.start(0)
        return whole[:start] + NUMBER_MARK + whole[start + len(match.group("number")) :]

    for pattern in _HOUSE_NUMBERS:
        text = pattern.sub(mark, text)
    return text


def _cut_at_stop(name: str) -> str:
    """The leading words of ``name`` up to the first stop word (a prefix of ``name``)."""
    end = 0
    for word in re.finditer(r"\S+", name):
        text = word.group(0)
        if text.lower().strip(".,'’") in _STOP:
            break
        end = word.end()
        if text.endswith(".") and len(text) > 2:  # the end of a sentence (not an initial)
            break
    return name[:end]


def _replace_name(match: re.Match[str], *, any_case: bool) -> str:
    whole, name = match.group(0), match.group("name")
    if any_case:
        name = _cut_at_stop(name)
    elif name.split()[0].rstrip(".") in _NOT_NAMES:
        return whole
    name = name.rstrip(".")
    if not name:
        return whole
    start = match.start("name") - match.start(0)
    return whole[:start] + NAME_MARK + whole[start + len(name) :]


def _clean(text: str) -> str:
    # Control and format characters (and lone surrogates) are dropped: they have no place on a
    # page, would make XML invalid, and zero-width ones could hide a number from the patterns.
    # NFKC turns full-width digits and letters into plain ones. Newlines and tabs become spaces.
    out = []
    for ch in unicodedata.normalize("NFKC", text):
        if ch in "\n\r\t":
            out.append(" ")
        elif unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"}:
            continue
        else:
            out.append(ch)
    return re.sub(r"[ ]{2,}", " ", "".join(out)).strip()


def _lookalike_phones(text: str) -> str:
    """Phone numbers with letters typed for some digits ("617555O142"): matched in the text with
    O, l and I read as digits, and replaced when the match has at least six real digits (so
    that words are never taken for numbers)."""
    translated = text.translate(_LOOKALIKE)
    spans = [
        m.span()
        for pattern in _PHONES
        for m in pattern.finditer(translated)
        if sum(ch.isdigit() for ch in text[m.start() : m.end()]) >= 6
    ]
    for start, end in sorted(spans, reverse=True):
        if PHONE_MARK not in text[start:end]:
            text = text[:start] + PHONE_MARK + text[end:]
    return text


def redact(text: str | None) -> str | None:
    """``text`` with personal data replaced by markers; None stays None."""
    if text is None:
        return None
    text = _clean(str(text))
    if not text:
        return text
    text = _EMAIL.sub(EMAIL_MARK, text)
    text = _EMAIL_SPELLED.sub(EMAIL_MARK, text)
    text = _EMAIL_PROVIDER.sub(EMAIL_MARK, text)
    text = _HANDLE.sub(HANDLE_MARK, text)
    text = _SSN.sub(NUMBER_MARK, text)
    for pattern in _PHONES:
        text = pattern.sub(PHONE_MARK, text)
    text = _lookalike_phones(text)
    text = _SPELLED_PHONE.sub(PHONE_MARK, text)
    text = _ANY_NAME.sub(lambda m: _replace_name(m, any_case=True), text)
    text = _CAP_NAME.sub(lambda m: _replace_name(m, any_case=False), text)
    text = _TITLE_NAME.sub(lambda m: _replace_name(m, any_case=False), text)
    if len(text) > MAX_LENGTH:
        text = text[: MAX_LENGTH - 1].rstrip() + "…"
    return text


def xml_safe(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (for any string put in XML)."""
    return "".join(
        ch
        for ch in text
        if ch in "\t\n\r"
        or "\x20" <= ch <= "\ud7ff"
        or "\ue000" <= ch <= "\ufffd"
        or "\U00010000" <= ch <= "\U0010ffff"
    )
