"""Checking a mapping: every problem refused with the column or setting it is about."""

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.imports.mapping import check_mapping, guess_mapping, header_key, normalise_header
from contacts.models import AttributeDefinition, ImportKind, Purpose
from core.errors import ApplicationError
from tests.factories import make_wording

pytestmark = pytest.mark.django_db

HEADER = ["Phone", "First name", "Customer no", "Newsletter", "Signed up", "Service"]


def mapping(**changes) -> dict:
    base = {
        "columns": [
            {"column": 0, "field": "phone"},
            {"column": 1, "field": "first_name", "blank": "clear"},
            {"column": 2, "field": "attribute", "key": "customer_no"},
        ],
        "consent": [],
        "region": "de",
    }
    return {**base, **changes}


def refusal(value, *, kind=ImportKind.CONTACTS) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        check_mapping(value, header=HEADER, kind=kind)
    return caught.value


def test_a_good_mapping_comes_back_in_its_full_shape():
    wording = make_wording(Purpose.MARKETING)
    checked = check_mapping(
        mapping(
            consent=[{"column": 3, "purpose": "marketing", "wording": wording.pk}],
            consent_date_column=4,
            consent_source="  Shop counter form  ",
            extra="ignored",
        ),
        header=HEADER,
        kind=ImportKind.CONTACTS,
    )
    assert checked == {
        "columns": [
            {"column": 0, "field": "phone"},
            {"column": 1, "field": "first_name", "blank": "clear"},
            {"column": 2, "field": "attribute", "key": "customer_no", "blank": "keep"},
        ],
        "consent": [{"column": 3, "purpose": "marketing", "wording": wording.pk}],
        "consent_date_column": 4,
        "consent_date": None,
        "consent_source": "Shop counter form",
        "suppress_purposes": [],
        "region": "DE",
    }


def test_without_consent_columns_the_date_and_source_are_dropped():
    checked = check_mapping(
        mapping(consent_date="2020-01-01", consent_source="x", consent_date_column=4),
        header=HEADER,
        kind=ImportKind.CONTACTS,
    )
    assert (checked["consent_date"], checked["consent_date_column"], checked["consent_source"]) == (
        None,
        None,
        "",
    )


def test_no_phone_column_is_refused():
    error = refusal(mapping(columns=[{"column": 1, "field": "first_name"}]))
    assert error.code == "mapping_no_phone"
    assert "No column is mapped to the phone number" in error.message


def test_two_phone_columns_are_refused_naming_both():
    error = refusal(mapping(columns=[{"column": 0, "field": "phone"}, {"column": 5, "field": "phone"}]))
    assert error.code == "mapping_field_twice"
    assert "Column 1 (“Phone”) and column 6 (“Service”) are both mapped to the phone number" in error.message
    assert error.details == {"column": 5}


@pytest.mark.parametrize("column", [6, -1, "0", None, True])
def test_a_column_the_file_does_not_have_is_refused(column):
    error = refusal(
        mapping(columns=[{"column": 0, "field": "phone"}, {"column": column, "field": "last_name"}])
    )
    assert error.code == "mapping_bad_column"
    assert "which has 6 columns" in error.message


def test_an_unknown_field_is_refused():
    error = refusal(mapping(columns=[{"column": 0, "field": "phone"}, {"column": 1, "field": "email"}]))
    assert error.code == "mapping_unknown_field"
    assert error.details == {"column": 1}
    assert "Column 2 (“First name”): “email” is not a field" in error.message


def test_a_column_used_twice_is_refused():
    error = refusal(
        mapping(
            columns=[{"column": 0, "field": "phone"}, {"column": 0, "field": "attribute", "key": "number"}],
        )
    )
    assert error.code == "mapping_column_twice"


@pytest.mark.parametrize("key", ["", "Customer No", "1st", "a" * 65, None])
def test_an_attribute_key_must_be_a_valid_key(key):
    error = refusal(
        mapping(columns=[{"column": 0, "field": "phone"}, {"column": 2, "field": "attribute", "key": key}])
    )
    assert error.code == "mapping_bad_key"
    assert error.field == "key"
    assert error.details == {"column": 2}


def test_a_declared_or_new_attribute_key_is_fine_but_not_twice():
    AttributeDefinition.objects.create(key="orders", type="number")
    columns = [
        {"column": 0, "field": "phone"},
        {"column": 1, "field": "attribute", "key": "orders"},
        {"column": 2, "field": "attribute", "key": "brand_new"},
    ]
    assert (
        len(check_mapping(mapping(columns=columns), header=HEADER, kind=ImportKind.CONTACTS)["columns"]) == 3
    )
    columns[2]["key"] = "orders"
    assert refusal(mapping(columns=columns)).code == "mapping_field_twice"


def test_blank_must_be_keep_or_clear():
    error = refusal(
        mapping(columns=[{"column": 0, "field": "phone"}, {"column": 1, "field": "tags", "blank": "x"}])
    )
    assert error.code == "mapping_invalid"


def test_a_consent_column_needs_an_existing_wording_of_its_purpose():
    service_wording = make_wording(Purpose.SERVICE)
    error = refusal(
        mapping(consent=[{"column": 3, "purpose": "marketing", "wording": None}], consent_date_column=4)
    )
    assert (error.code, error.field, error.details) == (
        "mapping_wording_required",
        "wording",
        {"column": 3, "purpose": "marketing"},
    )
    error = refusal(
        mapping(consent=[{"column": 3, "purpose": "marketing", "wording": 999}], consent_date_column=4)
    )
    assert error.code == "mapping_wording_unknown"
    error = refusal(
        mapping(
            consent=[{"column": 3, "purpose": "marketing", "wording": service_wording.pk}],
            consent_date_column=4,
        )
    )
    assert error.code == "mapping_wording_purpose"
    assert "is for service" in error.message


def test_a_consent_purpose_must_exist_and_have_one_column():
    wording = make_wording(Purpose.MARKETING)
    error = refusal(mapping(consent=[{"column": 3, "purpose": "sales", "wording": wording.pk}]))
    assert error.code == "mapping_bad_purpose"
    error = refusal(
        mapping(
            consent=[
                {"column": 3, "purpose": "marketing", "wording": wording.pk},
                {"column": 5, "purpose": "marketing", "wording": wording.pk},
            ],
            consent_date_column=4,
        )
    )
    assert error.code == "mapping_field_twice"


@pytest.fixture
def with_consent():
    wording = make_wording(Purpose.MARKETING)

    def make(**changes):
        return mapping(
            **{
                "consent": [{"column": 3, "purpose": "marketing", "wording": wording.pk}],
                "consent_source": "Shop counter form",
                **changes,
            }
        )

    return make


def test_consent_needs_a_date_column_or_one_date_not_both(with_consent):
    assert refusal(with_consent()).field == "consent_date_column"
    assert (
        refusal(with_consent(consent_date_column=4, consent_date="2025-01-01")).code == "mapping_consent_date"
    )
    checked = check_mapping(with_consent(consent_date="01.02.2025"), header=HEADER, kind=ImportKind.CONTACTS)
    assert checked["consent_date"] == "2025-02-01"


def test_the_date_column_cannot_be_a_column_used_for_something_else(with_consent):
    assert refusal(with_consent(consent_date_column=1)).code == "mapping_column_twice"
    assert refusal(with_consent(consent_date_column=3)).code == "mapping_column_twice"


def test_one_date_in_the_future_or_unreadable_is_refused(with_consent):
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    error = refusal(with_consent(consent_date=tomorrow))
    assert (error.code, error.field) == ("mapping_consent_date", "consent_date")
    assert "in the future" in error.message
    assert refusal(with_consent(consent_date="31.02.2025")).field == "consent_date"


@pytest.mark.parametrize("source", ["", "   ", "--", None, "x" * 501])
def test_consent_needs_a_source_description(with_consent, source):
    error = refusal(with_consent(consent_date="2025-01-01", consent_source=source))
    assert error.field == "consent_source"


def test_the_region_must_be_a_country():
    assert refusal(mapping(region="XX")).code == "mapping_bad_region"
    assert check_mapping(mapping(region=""), header=HEADER, kind=ImportKind.CONTACTS)["region"] == "DE"


def test_a_suppression_list_reads_the_phone_only_and_needs_its_purposes():
    checked = check_mapping(
        mapping(
            columns=[{"column": 0, "field": "phone"}, {"column": 1, "field": "email"}],
            suppress_purposes=["service"],
        ),
        header=HEADER,
        kind=ImportKind.SUPPRESSION,
    )
    assert checked["columns"] == [{"column": 0, "field": "phone"}]
    assert checked["suppress_purposes"] == ["service"]
    assert refusal(mapping(suppress_purposes=[]), kind=ImportKind.SUPPRESSION).field == "suppress_purposes"
    assert (
        refusal(mapping(suppress_purposes=["sales"]), kind=ImportKind.SUPPRESSION).field
        == "suppress_purposes"
    )


@pytest.mark.parametrize("value", [None, [], "columns", {"columns": "x"}, {"columns": [1]}])
def test_malformed_mappings_are_refused_not_crashed_on(value):
    assert refusal(value).code in ("mapping_invalid", "mapping_no_phone")


def test_headers_are_compared_without_case_accents_or_punctuation():
    assert normalise_header("  Teléfono-Móvil (WhatsApp) ") == "telefono movil whatsapp"
    assert header_key(["Téléphone", "Nom"], "contacts") == header_key(["TELEPHONE ", "nom"], "contacts")
    assert header_key(["Phone"], "contacts") != header_key(["Phone"], "suppression")


# --- Guessing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Einwilligung am", "Einwilligung seit", "Opt-in date", "Marketing consent on", "Consentement le",
     "Fecha consentimiento", "Newsletter since", "Einwilligungsdatum"],
)  # fmt: skip
def test_a_consent_word_with_a_date_word_is_the_date_of_the_opt_ins(name):
    guessed = guess_mapping(["Phone", "Newsletter", name], ImportKind.CONTACTS)
    assert guessed["consent"] == [{"column": 1, "purpose": "marketing", "wording": None}]
    assert guessed["consent_date_column"] == 2


def test_a_consent_word_alone_is_still_the_opt_in_column():
    guessed = guess_mapping(["Phone", "Einwilligung", "Geburtsdatum"], ImportKind.CONTACTS)
    assert guessed["consent"] == [{"column": 1, "purpose": "marketing", "wording": None}]


def test_the_german_example_export_is_guessed_column_by_column(import_for):
    from pathlib import Path

    from django.conf import settings

    data = (Path(settings.BASE_DIR) / "docs" / "examples" / "kunden-export.csv").read_bytes()
    contact_import = import_for(data, file_name="kunden-export.csv", until="uploaded")
    assert contact_import.header[:6] == [
        "Telefon", "Vorname", "Nachname", "Sprache", "Newsletter", "Einwilligung am",
    ]  # fmt: skip
    guessed = contact_import.mapping
    assert guessed["columns"] == [
        {"column": 0, "field": "phone"},
        {"column": 1, "field": "first_name", "blank": "keep"},
        {"column": 2, "field": "last_name", "blank": "keep"},
        {"column": 3, "field": "language", "blank": "keep"},
        {"column": 6, "field": "ignore"},  # Kundennummer: no custom field is guessed
        {"column": 7, "field": "ignore"},  # Bestellungen
        {"column": 8, "field": "tags", "blank": "keep"},
    ]
    assert guessed["consent"] == [{"column": 4, "purpose": "marketing", "wording": None}]
    assert guessed["consent_date_column"] == 5
    assert guessed["consent_date"] is None and guessed["consent_source"] == ""
