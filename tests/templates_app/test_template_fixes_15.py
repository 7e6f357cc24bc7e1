"""Walk-through 15 and review 15 fixes to the template editor: saved samples served to staff only and
drawn in the preview, picked files named after a failed save, header text a non-text header never
sends, and a sync that a malformed or unstorable template cannot break or overflow."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.errors import ApplicationError
from templates_app import services
from templates_app.drafts import IMPORT_REFUSED, draft_cards_from_components, draft_fields_from_components
from templates_app.models import MessageTemplate, TemplateCard
from templates_app.preview import render_preview
from templates_app.services import _same_content, templates_sync
from tests.templates_app.meta_examples import (
    LIMITED_TIME_OFFER,
    MEDIA_CARD_CAROUSEL,
    SEASONAL_PROMOTION,
    WINTER_SALE_COUPON,
)
from tests.templates_app.test_admin_rich_kinds import (
    ADD_URL,
    card,
    carousel_form,
    formset,
    image,
    main_errors,
    offer_form,
)
from tests.templates_app.test_template_admin import template_form

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def change_url(template):
    return reverse("admin:templates_app_messagetemplate_change", args=[template.pk])


def saved_carousel(client):
    response = client.post(ADD_URL, carousel_form([card(0), card(1), card(2)]))
    assert response.status_code == 302, (main_errors(response), formset(response, "cards").errors)
    return MessageTemplate.objects.get(name="rare_plants")


# --- 1. Saved samples: served to staff only, linked from the widgets, drawn in the preview ------


def test_a_card_sample_is_served_inline_to_staff_with_the_safe_headers(client_for, editor, approver):
    template = saved_carousel(client_for(editor))
    first = template.cards.first()
    url = reverse("admin:templates_app_messagetemplate_sample_card", args=[template.pk, first.pk])
    for user in (editor, approver):
        response = client_for(user).get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Content-Security-Policy"] == "sandbox"
        assert response["Content-Disposition"].startswith("inline")
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_a_sample_is_refused_without_view_permission_and_404s_when_absent(client_for, client, editor):
    template = saved_carousel(client_for(editor))
    first = template.cards.first()
    url = reverse("admin:templates_app_messagetemplate_sample_card", args=[template.pk, first.pk])
    nobody = get_user_model().objects.create_user("nobody", password="x", is_staff=True)
    assert client_for(nobody).get(url).status_code == 403
    client.logout()
    assert client.get(url).status_code == 302  # to the admin's login
    other = MessageTemplate.objects.create(name="other", language="en", category="MARKETING", body="x")
    wrong_template = reverse("admin:templates_app_messagetemplate_sample_card", args=[other.pk, first.pk])
    assert client_for(editor).get(wrong_template).status_code == 404
    no_header = reverse("admin:templates_app_messagetemplate_sample_header", args=[template.pk])
    assert client_for(editor).get(no_header).status_code == 404


def test_a_pdf_header_sample_downloads_as_an_attachment(client_for, editor):
    pdf = image("terms.pdf", content=b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n%%EOF")
    data = template_form(header_kind="DOCUMENT", header_media=pdf)
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, main_errors(response)
    template = MessageTemplate.objects.get(name="order_update")
    url = reverse("admin:templates_app_messagetemplate_sample_header", args=[template.pk])
    response = client_for(editor).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_currently_links_and_the_preview_use_the_sample_view(client_for, editor):
    template = saved_carousel(client_for(editor))
    response = client_for(editor).get(change_url(template))
    page = response.content.decode()
    for saved in template.cards.all():
        url = reverse("admin:templates_app_messagetemplate_sample_card", args=[template.pk, saved.pk])
        assert f'href="{url}"' in page  # the widget's "Currently" link
        assert f'src="{url}"' in page  # the preview's picture
    assert 'href="/media/' not in page and "media/template_samples" not in page


def test_an_offer_header_picture_is_drawn_from_the_sample_view(client_for, editor):
    response = client_for(editor).post(ADD_URL, offer_form())
    assert response.status_code == 302, main_errors(response)
    template = MessageTemplate.objects.get(name="caribbean_offer")
    url = reverse("admin:templates_app_messagetemplate_sample_header", args=[template.pk])
    assert f'src="{url}"' in render_preview(template)


# --- 2. Picked files after a failed save --------------------------------------------------------


def test_a_failed_save_names_every_card_whose_picture_must_be_picked_again(client_for, editor):
    cards = [card(0), card(1), card(2, button1_kind="QUICK_REPLY", button1_url="", button1_url_sample="")]
    response = client_for(editor).post(ADD_URL, carousel_form(cards))
    assert response.status_code == 200
    errors = formset(response, "cards").non_form_errors()
    assert any("1, 2 and 3" in message for message in errors), errors


def test_a_failed_save_asks_for_the_header_sample_again(client_for, editor):
    response = client_for(editor).post(ADD_URL, offer_form(footer="Reply STOP to opt out"))
    assert response.status_code == 200
    assert "footer" in main_errors(response)
    assert len(main_errors(response)["header_media"]) == 1


def test_a_save_without_the_pictures_reports_every_missing_card_picture_at_once(client_for, editor):
    cards = [card(number, header_media="") for number in range(3)]
    response = client_for(editor).post(ADD_URL, carousel_form(cards))
    assert response.status_code == 200
    card_forms = formset(response, "cards").forms
    assert all("header_media" in form.errors for form in card_forms), [f.errors for f in card_forms]
    assert not any("again" in message for message in formset(response, "cards").non_form_errors())


# --- 3. Header text only with a text header ------------------------------------------------------


@pytest.mark.parametrize("header_kind", ["LOCATION", "IMAGE", "DOCUMENT", ""])
def test_header_text_or_sample_with_a_non_text_header_is_refused(client_for, editor, header_kind):
    data = template_form(header_kind=header_kind, header_text="Our store", header_sample="Main street")
    if header_kind in ("IMAGE", "DOCUMENT"):
        data["header_media"] = image("x.pdf" if header_kind == "DOCUMENT" else "x.png")
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 200
    errors = main_errors(response).as_data()
    code = "header_location_content" if header_kind == "LOCATION" else "header_text_unused"
    assert [e.code for e in errors["header_text"]] == [code]
    assert [e.code for e in errors["header_sample"]] == [code]
    assert not MessageTemplate.objects.filter(name="order_update").exists()


def test_a_location_header_without_text_saves(client_for, editor):
    data = template_form(category="MARKETING", header_kind="LOCATION")
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, main_errors(response)


# --- 4. S2: a malformed template does not stop the sync ------------------------------------------


class ListedBackend:
    def __init__(self, items):
        self.items = items

    def list_templates(self, fields):
        return self.items


def listed(name, components, **extra):
    return {
        "id": f"id-{name}",
        "name": name,
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": components,
        **extra,
    }


@pytest.mark.parametrize("bad", [5, True, 1.5, {"type": "HEADER"}, "x"])
def test_same_content_reads_malformed_card_components_as_none(bad):
    ours = [{"type": "CAROUSEL", "cards": [{"components": []}]}]
    assert _same_content(ours, [{"type": "CAROUSEL", "cards": [{"components": bad}]}]) is True
    assert _same_content(ours, [{"type": "CAROUSEL", "cards": [{"components": [{"type": "BODY"}]}]}]) is False


def test_one_malformed_template_is_skipped_counted_and_logged(monkeypatch, caplog):
    body = [{"type": "BODY", "text": "Hello"}]
    known = MessageTemplate.objects.create(
        name="known", language="en", category="MARKETING", body="Hello", meta_template_id="id-known"
    )
    known.versions.create(number=1, category="MARKETING", parameter_format="POSITIONAL", components=body)
    items = [
        listed("known", [{"type": "CAROUSEL", "cards": [{"components": 5}]}]),
        "not a template",
        listed(
            "too_many",
            [
                *body,
                {
                    "type": "CAROUSEL",
                    "cards": [{"components": [{"type": "BUTTONS", "buttons": [{"type": "URL"}] * 3}]}],
                },
            ],
        ),
        listed("after", body),
    ]
    monkeypatch.setattr(services, "get_backend", lambda: ListedBackend(items))
    monkeypatch.setattr(services, "_sync_one", _explode_on("known", services._sync_one))
    with caplog.at_level(logging.WARNING, logger="templates_app.services"):
        result = templates_sync()
    assert result.imported == ["after (en)"]
    skipped = dict(result.not_imported)
    assert set(skipped) == {"known (en)", "an unnamed entry", "too_many (en)"}
    assert "3 buttons" in skipped["too_many (en)"]
    assert "3 not imported" in result.summary()
    assert "known (en)" in caplog.text and "too_many (en)" in caplog.text
    assert not MessageTemplate.objects.filter(name="too_many").exists()


def _explode_on(name, real):
    """Stands for any unforeseen error in one template's sync (as S2's TypeError was)."""

    def sync_one(item, actor, result):
        if item.get("name") == name:
            raise TypeError("'int' object is not iterable")
        return real(item, actor, result)

    return sync_one


# --- 5. N7: every imported value fits its field ---------------------------------------------------


def hostile_carousel(**card_overrides):
    button = {"type": "QUICK_REPLY", "text": "Yes"}
    parts = [{"type": "HEADER", "format": "IMAGE"}, {"type": "BUTTONS", "buttons": [button]}]
    components = [{"type": "BODY", "text": "Hi"}, {"type": "CAROUSEL", "cards": [{"components": parts}] * 2}]
    for path, value in card_overrides.items():
        if path == "header_format":
            parts[0]["format"] = value
        elif path == "button":
            parts[1]["buttons"] = [value]
    return components


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"header_format": "PRODUCT_" + "X" * 40}, "header_kind"),
        ({"header_format": "DOCUMENT"}, "header_kind"),
        ({"button": {"type": "FLOW" * 10, "text": "Go"}}, "button1_kind"),
        ({"button": {"type": "QUICK_REPLY", "text": "Y" * 101}}, "button1_text"),
        ({"button": {"type": "URL", "text": "Go", "url": "https://x.example/" + "a" * 2000}}, "button1_url"),
        (
            {"button": {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "1" * 40}},
            "button1_phone_number",
        ),
        ({"button": {"text": "untyped"}}, "cards"),
    ],
)
def test_card_values_that_do_not_fit_their_field_are_refused_by_name(overrides, field):
    with pytest.raises(ApplicationError) as refused:
        draft_cards_from_components(hostile_carousel(**overrides))
    assert refused.value.code == IMPORT_REFUSED
    assert refused.value.field == field


def test_top_level_values_that_do_not_fit_are_refused_and_a_long_handle_is_dropped():
    long_handle = {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["h" * 600]}}
    fields, _ = draft_fields_from_components([long_handle, {"type": "BODY", "text": "Hi"}])
    assert fields["header_handle"] == ""
    for components, field in [
        ([{"type": "HEADER", "format": "TEXT", "text": "T" * 201}], "header_text"),
        ([{"type": "HEADER", "format": "HOLOGRAM"}], "header_kind"),
        ([{"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY" * 3, "text": "x"}]}], "kind"),
        ([{"type": "FOOTER", "text": "F" * 201}], "footer"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            draft_fields_from_components(components)
        assert refused.value.field == field


def test_meta_own_examples_still_import():
    rows = draft_cards_from_components(MEDIA_CARD_CAROUSEL["body"]["components"])
    assert len(rows) == 3 and all(row["button1_kind"] and row["button2_kind"] for row in rows)
    for example in (MEDIA_CARD_CAROUSEL, LIMITED_TIME_OFFER, WINTER_SALE_COUPON, SEASONAL_PROMOTION):
        fields, _ = draft_fields_from_components(example["body"]["components"])
        assert fields["body"]


def test_a_hostile_import_is_not_imported_and_the_rest_syncs(monkeypatch):
    """On PostgreSQL an unbounded value was a DataError; now it is an import problem, one template."""
    items = [
        listed("hostile", hostile_carousel(button={"type": "QUICK_REPLY" * 5, "text": "x" * 500})),
        listed(
            "hostile_text",
            [{"type": "HEADER", "format": "TEXT", "text": "T" * 5000}, {"type": "BODY", "text": "Hi"}],
        ),
        listed("fine", [{"type": "BODY", "text": "Hello"}]),
    ]
    monkeypatch.setattr(services, "get_backend", lambda: ListedBackend(items))
    result = templates_sync()
    assert result.imported == ["fine (en)"]
    assert {which for which, _ in result.not_imported} == {"hostile (en)", "hostile_text (en)"}
    assert not TemplateCard.objects.exists()
    assert list(MessageTemplate.objects.values_list("name", flat=True)) == ["fine"]


def test_a_viewer_reads_the_samples_as_links_to_the_sample_view(client_for, editor, approver):
    template = saved_carousel(client_for(editor))
    response = client_for(approver).get(change_url(template))
    assert response.status_code == 200
    page = response.content.decode()
    for saved in template.cards.all():
        url = reverse("admin:templates_app_messagetemplate_sample_card", args=[template.pk, saved.pk])
        assert f'href="{url}"' in page
    assert 'href="/media/' not in page
