"""Consent keywords and what the confirmation says (docs/consent.md).

A keyword counts only as the whole message ("please stop" is a message for Support, not an
opt-out), compared after normalising what a person does not read as part of the word: Unicode
compatibility forms (full-width "ＳＴＯＰ"), case, accents ("ARRÊT" is "arret"), punctuation, emoji
and symbols around it ("Stop!", "STOP 🛑") and invisible characters anywhere (a zero-width space
that a keyboard or a copy-paste left behind). The lists are settings; the confirmation names what
happened and how to undo it, in German when the person wrote a German keyword or their contact
language is German, in English otherwise.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings

from contacts.models import Purpose


class KeywordAction(StrEnum):
    OPT_OUT = "opt_out"  # marketing
    OPT_OUT_ALL = "opt_out_all"  # every purpose
    OPT_IN = "opt_in"  # marketing


# Keywords that tell us the person writes German, whatever their contact says.
_GERMAN_KEYWORDS = {"stopp", "abmelden", "alle abmelden", "anmelden"}
# Letters that render as nothing (Hangul fillers, the braille blank): invisible like format characters.
_INVISIBLE_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}
# Unicode categories trimmed from both ends: punctuation, symbols (emoji are So, skin tones Sk),
# separators, controls and format characters, marks left without a letter.
_AROUND = ("P", "S", "Z", "C", "M")


@dataclass(frozen=True)
class KeywordMatch:
    action: KeywordAction
    keyword: str  # as the person wrote it, trimmed, without invisible characters
    language: str  # "de" or "" (unknown from the keyword alone)


def _invisible(char: str) -> bool:
    if char in _INVISIBLE_LETTERS:
        return True
    category = unicodedata.category(char)
    # Format characters (zero-width space and joiners, BOM, direction marks, soft hyphen, tags)
    # and controls that are not whitespace.
    return category == "Cf" or (category == "Cc" and not char.isspace())


def visible(text: str) -> str:
    """``text`` without invisible characters and with its whitespace collapsed: what a person sees."""
    return " ".join("".join(c for c in (text or "") if not _invisible(c)).split())


def normalize(text: str) -> str:
    """The form keywords are compared in (see the module docstring); "" when nothing is left."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    # Accents: decompose, drop the combining marks (also variation selectors and keycap marks).
    folded = "".join(
        c for c in unicodedata.normalize("NFD", folded) if unicodedata.category(c) not in ("Mn", "Me")
    )
    folded = visible(folded)
    start, end = 0, len(folded)
    while start < end and unicodedata.category(folded[start])[0] in _AROUND:
        start += 1
    while end > start and unicodedata.category(folded[end - 1])[0] in _AROUND:
        end -= 1
    return unicodedata.normalize("NFC", folded[start:end])


@functools.lru_cache(maxsize=16)
def _normalized(keywords: tuple[str, ...]) -> frozenset[str]:
    return frozenset(n for n in (normalize(k) for k in keywords) if n)


def match_keyword(text: str) -> KeywordMatch | None:
    """The keyword action ``text`` asks for as a whole message, or None."""
    said = normalize(text)
    if not said:
        return None
    for action, keywords in (
        (KeywordAction.OPT_OUT_ALL, settings.WHATSAPP_OPT_OUT_ALL_KEYWORDS),
        (KeywordAction.OPT_OUT, settings.WHATSAPP_OPT_OUT_KEYWORDS),
        (KeywordAction.OPT_IN, settings.WHATSAPP_OPT_IN_KEYWORDS),
    ):
        if said in _normalized(tuple(keywords)):
            return KeywordMatch(
                action=action,
                keyword=visible(text),
                language="de" if said in _GERMAN_KEYWORDS else "",
            )
    return None


def reply_language(*, keyword_language: str, contact_language: str) -> str:
    if keyword_language:
        return keyword_language
    return "de" if (contact_language or "").lower().startswith("de") else "en"


_OPTED_OUT = {
    (
        "en",
        Purpose.MARKETING,
    ): "You won't get offers from us on WhatsApp any more. Reply START to get them again.",
    ("de", Purpose.MARKETING): "Du bekommst von uns keine Angebote mehr über WhatsApp. "
    "Antworte START, um sie wieder zu erhalten.",
    ("en", Purpose.SERVICE): "You won't get updates about your orders and appointments from us on WhatsApp "
    "any more. To get them again, tell us in a message or in your account settings.",
    ("de", Purpose.SERVICE): "Du bekommst von uns keine Updates zu Bestellungen und Terminen mehr über "
    "WhatsApp. Schreib uns oder ändere es in deinem Kundenkonto, um sie wieder zu erhalten.",
}
_OPTED_OUT_ALL = {
    "en": "You won't get any messages from us on WhatsApp any more, apart from this confirmation. "
    "Reply START to get offers again; you can always write to us here.",
    "de": "Du bekommst von uns keine Nachrichten mehr über WhatsApp, außer dieser Bestätigung. "
    "Antworte START, um wieder Angebote zu erhalten; schreiben kannst du uns hier jederzeit.",
}
_OPTED_IN = {
    "en": "You'll get offers from us on WhatsApp from now on. Reply STOP at any time to stop them.",
    "de": "Du bekommst ab jetzt unsere Angebote über WhatsApp. "
    "Antworte jederzeit STOPP, um sie abzubestellen.",
}


def confirmation_text(*, action: KeywordAction, purpose: str, language: str) -> str:
    """What happened and how to undo it."""
    language = language if language in ("en", "de") else "en"
    if action == KeywordAction.OPT_OUT_ALL:
        return _OPTED_OUT_ALL[language]
    if action == KeywordAction.OPT_IN:
        return _OPTED_IN[language]
    return _OPTED_OUT[(language, purpose if purpose in Purpose.values else Purpose.MARKETING)]


def opt_in_wording(keyword: str) -> str:
    """The keyword exchange as the opt-in's wording: the evidence of what the person agreed to."""
    return f'Sent "{keyword}" on WhatsApp to receive marketing messages'
