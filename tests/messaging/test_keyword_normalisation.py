"""Keywords as people really type them: punctuation, accents, full-width letters, emoji, invisible characters.

A keyword still counts only as the whole message; normalising (NFKC, case-fold, accents, surrounding
punctuation, emoji and invisible characters) only removes what a person does not read as part of the
word.
"""
# ruff: noqa: F811 (the deliver fixture is imported, then named as a test argument)

import unicodedata

import pytest
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import ConsentEvent, ConsentSource, Purpose
from contacts.selectors import has_opt_in
from messaging.webhooks.keywords import KeywordAction, match_keyword, normalize
from tests.messaging.webhook_bodies import deliver, text_message  # noqa: F401 (a fixture)

WA_ID = "4915112345678"  # the `customer` fixture


@pytest.mark.parametrize(
    "said",
    [
        "Stop.",
        "Stop!",
        "STOP!!!",
        "¡Stop!",
        "«Stop»",
        '"stop"',
        "ARRÊT",
        "arrêt",
        "Arrêt !",
        "ＳＴＯＰ",  # full-width letters
        "STOP\u200b",  # a zero-width space after it
        "\u200bSTOP\u2060",
        "\ufeffSTOP",  # a byte-order mark in front
        "STOP 🛑",
        "STOP🙏",
        "STOP 👍🏽",  # an emoji with a skin tone
        "✋ stop ✋",
        "S\u200bTOP",  # an invisible character inside reads as nothing
        "stop\u00a0",  # a no-break space
        "Stop\u3000",  # an ideographic space
        "Ｓｔｏｐ！",
        "Stöp",  # accents are stripped for matching
    ],
)
def test_opt_out_keywords_match_their_common_variants(said):
    match = match_keyword(said)
    assert match is not None, said
    assert match.action == KeywordAction.OPT_OUT


@pytest.mark.parametrize(
    ("said", "action"),
    [
        ("Stop all.", KeywordAction.OPT_OUT_ALL),
        ("STOP\u200b ALL", KeywordAction.OPT_OUT_ALL),
        ("ＳＴＯＰ　ＡＬＬ", KeywordAction.OPT_OUT_ALL),
        ("Alle abmelden!", KeywordAction.OPT_OUT_ALL),
        ("Start 😊", KeywordAction.OPT_IN),
        ("START.", KeywordAction.OPT_IN),
        ("Anmelden!", KeywordAction.OPT_IN),
    ],
)
def test_stop_all_and_start_match_their_variants_too(said, action):
    assert match_keyword(said).action == action


@pytest.mark.parametrize(
    "said",
    [
        "stop please",
        "Stop. Please",
        "please stop!",
        "st op",
        "s.t.o.p",
        "stop-it",
        "STOP calling me 🛑",
        "🛑",
        "!!!",
        "\u200b",
        "",
        "stopping",
        "start now!",
    ],
)
def test_a_variant_is_still_the_whole_message_only(said):
    assert match_keyword(said) is None


def test_the_keyword_kept_as_wording_is_what_the_person_wrote_without_invisible_characters():
    match = match_keyword("  Start\u200b 😊 ")
    assert match.keyword == "Start 😊"


def test_german_is_recognised_after_normalising():
    assert match_keyword("STOPP!").language == "de"
    assert match_keyword("Ａｂｍｅｌｄｅｎ").language == "de"


def test_normalize_folds_what_a_person_does_not_read_as_the_word():
    assert normalize("  ARRÊT !!! 🛑\u200b") == "arret"
    assert normalize("Straße") == "strasse"  # case-folding, not lower-casing
    assert normalize("stop   all") == "stop all"
    assert normalize(None) == ""


# --- Through the webhook ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("said", ["Stop.", "ARRÊT", "ＳＴＯＰ", "STOP\u200b", "STOP 🛑"])
def test_a_stop_variant_sent_on_whatsapp_opts_out(deliver, customer, said):
    deliver(text_message(said, wa_id=WA_ID))
    event = ConsentEvent.objects.get(contact=customer, source=ConsentSource.KEYWORD)
    assert (event.purpose, event.action) == (Purpose.MARKETING, "opt_out")
    assert not has_opt_in(contact=customer, purpose=Purpose.MARKETING)


@pytest.mark.django_db
def test_stop_please_sent_on_whatsapp_changes_nothing(deliver, customer):
    deliver(text_message("stop please", wa_id=WA_ID))
    assert not ConsentEvent.objects.filter(source=ConsentSource.KEYWORD).exists()
    assert has_opt_in(contact=customer, purpose=Purpose.MARKETING)


# --- Property: every variant of every configured keyword matches, sentences do not -------------

_FULL_WIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e", "\u200f"]
_EMOJI = ["🛑", "🙏", "👍🏽", "✋", "❌", "😡", "🚫", "❤️", "👨‍👩‍👧", "🇩🇪"]
_PUNCTUATION = list(".,!?;:¡¿…\"'«»()[]-–—*~")
_SPACES = [" ", "  ", "\u00a0", "\u3000", "\t", "\n"]

_ALL_KEYWORDS = [
    (keyword, action)
    for action, keywords in (
        (KeywordAction.OPT_OUT_ALL, django_settings.WHATSAPP_OPT_OUT_ALL_KEYWORDS),
        (KeywordAction.OPT_OUT, django_settings.WHATSAPP_OPT_OUT_KEYWORDS),
        (KeywordAction.OPT_IN, django_settings.WHATSAPP_OPT_IN_KEYWORDS),
    )
    for keyword in keywords
]


@st.composite
def variants(draw):
    """A configured keyword as someone might type it, with the action it must still mean."""
    keyword, action = draw(st.sampled_from(_ALL_KEYWORDS))
    letters = []
    for char in keyword:
        if char == " ":
            letters.append(draw(st.sampled_from(_SPACES)))
            continue
        char = char.lower() if draw(st.booleans()) else char.upper()
        if draw(st.integers(0, 5)) == 0:
            char = _FULL_WIDTH.get(char, char)
        if draw(st.integers(0, 5)) == 0 and char.isalpha():
            char = unicodedata.normalize("NFC", char + draw(st.sampled_from(["\u0301", "\u0302", "\u0308"])))
        if draw(st.integers(0, 7)) == 0:
            char += draw(st.sampled_from(_INVISIBLE))
        letters.append(char)
    noise = st.sampled_from(_INVISIBLE + _EMOJI + _PUNCTUATION + _SPACES)
    before = "".join(draw(st.lists(noise, max_size=4)))
    after = "".join(draw(st.lists(noise, max_size=4)))
    return before + "".join(letters) + after, action


@given(variants())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_every_variant_of_a_configured_keyword_matches_its_action(variant):
    said, action = variant
    match = match_keyword(said)
    assert match is not None, repr(said)
    assert match.action == action, repr(said)


_WORDS = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu")), min_size=1, max_size=8)


@given(variants(), _WORDS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_a_keyword_followed_by_another_word_is_not_a_keyword(variant, word):
    said, _ = variant
    sentence = f"{said} {word}"
    configured = {normalize(keyword) for keyword, _ in _ALL_KEYWORDS}
    # "stop" + "all" is itself a keyword; anything else with a word added is a sentence.
    if normalize(sentence) in configured:
        return
    assert match_keyword(sentence) is None, repr(sentence)
