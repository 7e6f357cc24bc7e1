"""Meta's codes land in our error classes, and docs/whatsapp-errors.md is the rendered table."""

import pytest

from cloud_api.error_docs import DOC_PATH, render_markdown
from cloud_api.errors import (
    DEFAULT_CLASS_FOR_UNKNOWN_CODE,
    ERROR_CODES,
    ErrorClass,
    MetaError,
    classify,
)

EXPECTED = {
    ErrorClass.MESSAGE_THROUGHPUT: [130429],
    ErrorClass.API_CALL_LIMIT: [4, 80007],
    ErrorClass.PAIR_RATE: [131056],
    ErrorClass.TRANSIENT: [1, 2, 131000, 131016, 131057, 133004],
    ErrorClass.DEFERRED: [131049],
    ErrorClass.TEMPLATE_PAUSED: [132015],
    ErrorClass.RECIPIENT_PERMANENT: [131026, 131047, 131050, 130403, 131021],
    ErrorClass.REQUEST_PERMANENT: [
        100,
        131008,
        131009,
        132000,
        132001,
        132005,
        132007,
        132012,
        132016,
        132018,
        131053,
    ],
    ErrorClass.ACCOUNT_LEVEL: [
        0,
        190,
        3,
        10,
        200,
        250,
        299,
        368,
        130497,
        131031,
        131042,
        131048,
        131063,
        131064,
        133010,
    ],
}


@pytest.mark.parametrize(
    ("code", "error_class"),
    [(code, error_class) for error_class, codes in EXPECTED.items() for code in codes],
)
def test_each_code_has_its_class(code, error_class):
    assert classify(code) is error_class


def test_the_code_wins_over_the_http_status():
    assert classify(131026, http_status=500) is ErrorClass.RECIPIENT_PERMANENT
    assert classify(131000, http_status=400) is ErrorClass.TRANSIENT


def test_unknown_codes_fail_the_one_message():
    assert DEFAULT_CLASS_FOR_UNKNOWN_CODE is ErrorClass.REQUEST_PERMANENT
    assert classify(999999) is ErrorClass.REQUEST_PERMANENT


def test_without_a_code_the_http_status_decides():
    assert classify(None, http_status=502) is ErrorClass.TRANSIENT
    assert classify(None, http_status=404) is ErrorClass.REQUEST_PERMANENT
    assert classify(None) is ErrorClass.TRANSIENT


def test_codes_are_listed_once():
    covered = [code for row in ERROR_CODES for code in range(row.first, row.last + 1)]
    assert len(covered) == len(set(covered))


def test_a_graph_error_body_is_read_and_classified():
    error = MetaError.from_graph_error(
        {
            "message": "(#130429) Rate limit hit",
            "type": "OAuthException",
            "code": 130429,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Cloud API message throughput has been reached.",
            },
            "error_subcode": 2494055,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        },
        http_status=400,
    )
    assert error.error_class is ErrorClass.MESSAGE_THROUGHPUT
    assert (error.code, error.subcode, error.fbtrace_id) == (130429, 2494055, "Az8or2yhqkZfEZ-_4Qn_Bam")
    assert error.details == "Cloud API message throughput has been reached."


def test_a_failed_status_webhook_error_is_classified_with_the_same_table():
    error = MetaError.from_graph_error(
        {
            "code": 131049,
            "title": "This message was not delivered to maintain healthy ecosystem engagement.",
            "message": "This message was not delivered to maintain healthy ecosystem engagement.",
            "error_data": {"details": "In order to maintain a healthy ecosystem engagement, ..."},
            "href": "/documentation/business-cloud_api/support/error-codes",
        }
    )
    assert error.error_class is ErrorClass.DEFERRED
    assert error.title.startswith("This message was not delivered")


def test_docs_match_the_code_table():
    assert DOC_PATH.read_text(encoding="utf-8") == render_markdown(), (
        "docs/whatsapp-errors.md is stale: run `.venv/bin/python -m cloud_api.error_docs`"
    )
