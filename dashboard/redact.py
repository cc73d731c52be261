"""Redaction of personal data from free text before it reaches the public side.

:func:`redact` replaces, in this order:

- web addresses with a query string or fragment (``https://example.org/v?id=55&u=jane``), which
  may carry an e-mail, a name or a token -> ``[link removed]`` (an address without one stays);
- e-mail addresses, also with spaces around the ``@`` (``jane @ example.com``), written out
  (``jane (at) example dot com``) or at a big mail provider without its domain
  (``jane.doe at gmail``) -> ``[e-mail removed]``;
- social-media handles (``@jane_doe``) -> ``[handle removed]``;
- social security numbers (``123-45-6789``) -> ``[number removed]``;
- dates of birth after "DOB", "date of birth", "born (on/in)", "birthday" (``DOB 03/14/1941``)
  -> ``[date removed]``;
- other systems' record numbers of six digits or more after "report", "ticket", "ref",
  "claim", "incident", "work order" (``police report #2023-004512``) -> ``[number removed]``
  (a "case" number is the 311 system's own, public like the case, and stays);
- licence plates after "plate", "license plate", "tag", "reg" or a state code (``plate 4XKT29``,
  ``NY HJK-4821``): four characters or more mixing letters and digits -> ``[plate removed]``;
- flat and unit numbers (``Apt 3B``, ``apartment 4``, ``Unit 2``, ``Suite 300``) ->
  ``[number removed]``, wherever the case is located: they single out a household;
- ages (``87 year old``, ``82 yo``, ``age 6``) -> ``[age removed]``;
- phone numbers: North American numbers in any common layout (``(617) 555-0123``,
  ``617.555.0123``, ``+1 617 555 0123``, ``6175550123``), seven-digit local numbers
  (``555-0123``) and international ``+CC`` numbers, also with letters typed for digits
  (``617555O142``: O for 0, l or I for 1) or spelled out (``six one seven five five five ...``,
  seven number words or more in a row) -> ``[phone removed]``;
- names after "my name is", "name:", "name -", "printed for", "contact", "call", "ask for",
  "reported by", "this is", "I am", "regards", "thanks", and after titles (Mr, Mrs, Ms, Dr, Rep.,
  Sen., Councilor) -> ``[name removed]``. After "my name is" / "name:" / "printed for" any words
  are taken (people type names in lower case); after the other phrases only capitalised words,
  so "contact the city" stays as it is, and not the words of request types and streets ("Utility
  Call-In", "Resident Zone", "Call St", "St Name - Attached to Pole");
- a signature after the last sentence (``... again. - Wilbur``) -> ``[name removed]``.

:func:`redact_address` (``redact(text, address=True)``) is for an address: a name running into a
street word is a street named after somebody (``Dr. Michael Gavin Way``) and stays, and letters
are not read as digits (``155-157I Washington St`` is a house number range, not a phone number).

:func:`without_house_numbers` also takes house numbers out of free text (``12 Otis Place``,
``opposite #83``, ``behind 221 W. Canton``) -> ``[number removed]``: for a case whose location is
published as an area, not a point.

Control characters are dropped and the text is cut to :data:`MAX_LENGTH` characters. Redaction
errs on the side of removing too much: a public page loses a word, never a phone number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MAX_LENGTH = 1000

EMAIL_MARK = "[e-mail removed]"
HANDLE_MARK = "[handle removed]"
PHONE_MARK = "[phone removed]"
NAME_MARK = "[name removed]"
NUMBER_MARK = "[number removed]"
PLATE_MARK = "[plate removed]"
DATE_MARK = "[date removed]"
AGE_MARK = "[age removed]"
LINK_MARK = "[link removed]"

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

#: A web address with a query string or fragment ("...?id=55&email=..."): the query may carry an
#: e-mail, a name or a token. Addresses without one (a city page) are kept.
_LINK = re.compile(r"(?:\bhttps?://|\bwww\.)[^\s?#]*[?#]\S*", re.IGNORECASE)
#: "DOB 03/14/1941", "date of birth: 1/2/1950", "born on March 3, 1948", "born in 1950".
_BIRTH_DATE = re.compile(
    r"(?i:\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday|born(?:\s+(?:on|in))?)"
    r"\s*[:\-]?\s*)"
    r"(?P<date>\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}|"
    r"[A-Za-z]{3,9}\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}|\d{4})(?!\w)"
)
#: "87 year old", "87-year-old", "82 yrs old", "82 yo", "82 y/o", "age 6", "aged 87".
_AGE = re.compile(
    r"\b\d{1,3}\s*-?\s*(?:years?|yrs?\.?)\s*-?\s*old\b|\b\d{1,3}\s*(?:yo|y/o|y\.o\.?)(?!\w)|"
    r"\bage[ds]?\s*:?\s*\d{1,3}\b",
    re.IGNORECASE,
)
#: The number of another system's record after what names it ("police report #2023-004512",
#: "ref SR-8812345", "ticket no. 99812345", "work order 5531207"): at least six digits. A "case"
#: number is the 311 system's own tracking number, public like the case itself, and stays.
_OTHER_CASE = re.compile(
    r"(?i:\b(?:ticket|report|ref(?:erence)?|claim|incident|work\s+order|wo)\b\.?\s*"
    r"(?:(?:#|no\.?|number|num\.?|id)\s*)?:?\s*)"
    r"(?P<number>(?:[A-Za-z]{1,4}[\-\s]?)?\d[\d\-]{4,}\d)(?!\w)"
)
#: A licence plate after what announces it ("plate 4XKT29", "MA plate 1ABC23", "license plate #
#: 7ZQ 119", "tag: 552LMV") or after a state's code ("NY HJK-4821"). The candidate must mix
#: letters and digits and have four characters or more, so "plate missing" and "tag 2 ft" stay.
_PLATE = re.compile(
    r"(?:(?i:\b(?:licen[cs]e\s+)?plates?|\btags?|\breg(?:istration)?)\b\s*"
    r"(?i:(?:(?:no\.?|number|num\.?|is|was|reads?|#|:)\s*)*)"
    r"(?:(?:MA|NY|NJ|CT|RI|NH|VT|ME|PA)\s+)?"
    r"|\b(?:MA|NY|NJ|CT|RI|NH|VT|ME|PA)\s+(?i:(?:plates?|tags?)\s*(?:#\s*)?)?)"
    r"(?P<plate>[A-Za-z0-9]{1,4}(?:[\s\-]?[A-Za-z0-9]{1,4})?)(?!\w)"
)
#: A flat or unit number: "Apt 3B", "apartment 4", "Unit 2", "apt. #12C", "Suite 300", "Room B".
_UNIT_NUMBER = re.compile(
    r"(?i:\b(?:apt|apartment|unit|suite|ste|flat|rm|room)\b\.?\s*(?:(?:#|no\.?|number)\s*)?)"
    r"(?P<number>\d+[A-Za-z]?(?:-\d+[A-Za-z]?)?|[A-Za-z]\d+|[A-HJ-Z])(?!\w)"
)
#: A signature after the last sentence: "... again. - Wilbur", "fix asap! -Mabel T.".
_SIGNATURE = re.compile(
    r"(?<=[.!?])\s*[\-\u2013\u2014~]+\s*"
    r"(?P<name>[A-Z][\w'’\-]*(?:\s+[A-Z][\w'’\-]*\.?)?)\s*\.?\s*$"
)

_NAME_WORD = r"[^\W\d_][\w'’.\-]*"
_CAP_WORD = r"[A-Z][\w'’\-]*\.?"
#: Words that end a name typed in lower case ("my name is jane and I live ...").
_STOP = frozenset(
    "a an and at but by call calling email e-mail for from here i i'm im in is my of on or "
    "phone please reporting the tel thanks to who with".split()
)
_ANY_NAME = re.compile(
    r"(?i:\b(?:my\s+name\s+is|my\s+name's|names?\s+is|printed\s+for|"
    # "name:" / "name -", but not a street's name ("St Name - Attached to Pole", a sign type)
    r"(?<!\bst\s)(?<!\bst\.\s)(?<!\bstreet\s)(?<!\bsign\s)name\s*[:\-\u2013\u2014])"
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
    "Unable Happy Sorry Glad Here There It This That City Boston Street "
    # words of request types and descriptors after "resident", "call", "owner"... ("Utility
    # Call-In", "Commercial Use In Resident Zone", "Owner Occupied", "Call Me")
    "In On Out Back Me Us Zone Parking Permit Permits Sticker Occupied Association Services "
    "Complaint Request Area Building Property Center Centre "
    # street words: "Call St" (a street in Jamaica Plain), "call St. Mary's"
    "St Ave Av Rd Pl Ter Ct Sq Blvd Dr Ln Pkwy Cir Hwy Way Avenue Road Place Terrace Court "
    "Square Boulevard Drive Lane Parkway Circle Highway".split()
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


#: A street word right after a name, or one or two capitalised words later: the "name" is part of
#: a street's name ("Dr. Michael Gavin Way", "Dr. Mary Moore Beatty Cir").
_STREET_AFTER = re.compile(rf"(?:\s+[A-Z][\w'’\-]*\.?){{0,2}}\s+(?i:{_STREET_WORD})\b")


def _replace_name(match: re.Match[str], *, any_case: bool, address: bool = False) -> str:
    whole, name = match.group(0), match.group("name")
    if address and _STREET_AFTER.match(match.string, match.end()):
        return whole
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


def _mark_group(mark: str, group: str) -> Callable[[re.Match[str]], str]:
    """A replacement that puts ``mark`` in place of one named group, keeping the rest."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        start = match.start(group) - match.start(0)
        return whole[:start] + mark + whole[start + len(match.group(group)) :]

    return replace


def _replace_plate(match: re.Match[str]) -> str:
    plate = match.group("plate")
    first = re.split(r"[\s\-]", plate)[0]
    if not re.search(r"\d", plate.replace(first, "", 1)) and plate != first:
        plate = first  # "plate 552LMV on": the word after is not part of the plate
    compact = re.sub(r"[\s\-]", "", plate)
    if len(compact) < 4 or not re.search(r"\d", compact) or not re.search(r"[A-Za-z]", compact):
        return match.group(0)
    whole, start = match.group(0), match.start("plate") - match.start(0)
    return whole[:start] + PLATE_MARK + whole[start + len(plate) :]


def _replace_signature(match: re.Match[str]) -> str:
    if match.group("name").split()[0].rstrip(".") in _NOT_NAMES:
        return match.group(0)
    return _mark_group(NAME_MARK, "name")(match)


def redact(text: str | None, *, address: bool = False) -> str | None:
    """``text`` with personal data replaced by markers; None stays None.

    ``address=True`` for an address: a name that runs into a street word is a street named after
    somebody ("1 Dr. Michael Gavin Way") and stays, and letters are not read as digits (house
    number ranges such as "155-157I" are not phone numbers)."""
    if text is None:
        return None
    text = _clean(str(text))
    if not text:
        return text
    text = _LINK.sub(LINK_MARK, text)
    text = _EMAIL.sub(EMAIL_MARK, text)
    text = _EMAIL_SPELLED.sub(EMAIL_MARK, text)
    text = _EMAIL_PROVIDER.sub(EMAIL_MARK, text)
    text = _HANDLE.sub(HANDLE_MARK, text)
    text = _SSN.sub(NUMBER_MARK, text)
    text = _BIRTH_DATE.sub(_mark_group(DATE_MARK, "date"), text)
    text = _OTHER_CASE.sub(_mark_group(NUMBER_MARK, "number"), text)
    text = _PLATE.sub(_replace_plate, text)
    text = _UNIT_NUMBER.sub(_mark_group(NUMBER_MARK, "number"), text)
    text = _AGE.sub(AGE_MARK, text)
    for pattern in _PHONES:
        text = pattern.sub(PHONE_MARK, text)
    if not address:
        text = _lookalike_phones(text)
    text = _SPELLED_PHONE.sub(PHONE_MARK, text)
    text = _ANY_NAME.sub(lambda m: _replace_name(m, any_case=True), text)
    text = _CAP_NAME.sub(lambda m: _replace_name(m, any_case=False, address=address), text)
    text = _TITLE_NAME.sub(lambda m: _replace_name(m, any_case=False, address=address), text)
    text = _SIGNATURE.sub(_replace_signature, text)
    if len(text) > MAX_LENGTH:
        text = text[: MAX_LENGTH - 1].rstrip() + "…"
    return text


def redact_address(text: str | None) -> str | None:
    """:func:`redact` for an address (``address=True``): street names stay."""
    return redact(text, address=True)


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
