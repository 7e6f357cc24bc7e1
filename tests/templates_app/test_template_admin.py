"""The template editor in the admin: Meta's rules as field errors, buttons, preview, roles."""

import pytest
from django.urls import reverse

from templates_app.models import MessageTemplate, TemplateButton

pytestmark = pytest.mark.django_db
ADD_URL = reverse("admin:templates_app_messagetemplate_add")
PREVIEW_URL = reverse("admin:templates_app_messagetemplate_preview")


def template_form(buttons=(), **overrides):
    data = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "parameter_format": "POSITIONAL",
        "header_kind": "",
        "header_text": "",
        "header_sample": "",
        "body": "Hi {{1}}, your order {{2}} ships today.",
        "body_samples": "1: Pablo\n2: ORD-9271",
        "footer": "",
        "add_security_recommendation": "on",
        "code_expiration_minutes": "",
        "otp_kind": "",
        "otp_button_text": "",
        "otp_package_name": "",
        "otp_signature_hash": "",
        "buttons-TOTAL_FORMS": str(len(buttons)),
        "buttons-INITIAL_FORMS": "0",
        "buttons-MIN_NUM_FORMS": "0",
        "buttons-MAX_NUM_FORMS": "1000",
        "cards-TOTAL_FORMS": "0",
        "cards-INITIAL_FORMS": "0",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
    }
    for index, button in enumerate(buttons):
        row = {
            "position": index,
            "kind": "",
            "text": "",
            "url": "",
            "url_sample": "",
            "phone_number": "",
            "code_sample": "",
            "opt_out_purpose": "",
        }
        row.update(button)
        data.update({f"buttons-{index}-{key}": value for key, value in row.items()})
    data.update(overrides)
    return data


def test_editor_saves_a_valid_template_with_samples_and_buttons(client_for, editor):
    buttons = [
        {"kind": "QUICK_REPLY", "text": "Stop promotions", "opt_out_purpose": "marketing"},
        {
            "kind": "URL",
            "text": "Track",
            "url": "https://shop.example/track/{{1}}",
            "url_sample": "https://shop.example/track/ORD-1",
        },
    ]
    response = client_for(editor).post(ADD_URL, template_form(buttons, category="MARKETING"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    template = MessageTemplate.objects.get()
    assert template.body_samples == {"1": "Pablo", "2": "ORD-9271"}
    assert template.status == "DRAFT"
    assert list(TemplateButton.objects.values_list("kind", "opt_out_purpose")) == [
        ("QUICK_REPLY", "marketing"),
        ("URL", ""),
    ]


def form_errors(response):
    return response.context["adminform"].form.errors


@pytest.mark.parametrize(
    "overrides,field,message",
    [
        ({"name": "Order Update"}, "name", "lowercase"),
        ({"body": "{{1}} is your order."}, "body", "can't start with a variable"),
        ({"body": "Your order is {{1}}"}, "body", "can't end with a variable"),
        ({"body": "Hi {{1}}{{2}} there."}, "body", "next to each other"),
        ({"body": "Hi {{1}} and {{3}} there.", "body_samples": "1: a\n3: b"}, "body", "{{2}}"),
        ({"body_samples": "1: Pablo"}, "body_samples", "{{2}}"),
        ({"body_samples": "Pablo"}, "body_samples", "write each sample"),
        ({"body": ""}, "body", "body"),
        ({"footer": "x" * 61}, "footer", "60"),
        ({"header_kind": "TEXT", "header_text": "Order {{1}} for {{2}}"}, "header_text", "only 1 variable"),
        (
            {"header_kind": "TEXT", "header_text": "Order {{1}}", "header_sample": ""},
            "header_sample",
            "sample",
        ),
        ({"header_kind": "IMAGE"}, "header_media", "sample"),
        ({"parameter_format": "NAMED"}, "body", "named"),
    ],
)
def test_broken_rules_are_errors_on_their_field(client_for, editor, overrides, field, message):
    response = client_for(editor).post(ADD_URL, template_form(**overrides))
    assert response.status_code == 200
    errors = form_errors(response)
    assert field in errors, errors
    assert message.lower() in " ".join(errors[field]).lower()
    assert not MessageTemplate.objects.exists()


def inline_errors(response):
    formset = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.prefix == "buttons"
    ).formset
    return formset.errors, formset.non_form_errors()


@pytest.mark.parametrize(
    "buttons,row,field,message",
    [
        (
            [{"kind": "URL", "text": "Track", "url": "https://x.example/{{1}}/track", "url_sample": "x"}],
            0,
            "url",
            "end",
        ),
        ([{"kind": "URL", "text": "T" * 26, "url": "https://x.example/"}], 0, "text", "25"),
        ([{"kind": "PHONE_NUMBER", "text": "Call", "phone_number": "12"}], 0, "phone_number", ""),
        ([{"kind": "COPY_CODE", "code_sample": "X" * 16}], 0, "code_sample", "15"),
        (
            [{"kind": "URL", "text": "Go", "url": "https://x.example/", "opt_out_purpose": "marketing"}],
            0,
            "opt_out_purpose",
            "quick repl",
        ),
    ],
)
def test_broken_button_rules_are_errors_on_their_row(client_for, editor, buttons, row, field, message):
    response = client_for(editor).post(ADD_URL, template_form(buttons))
    assert response.status_code == 200
    errors, _ = inline_errors(response)
    assert field in errors[row], errors
    assert message in " ".join(errors[row][field])
    assert not MessageTemplate.objects.exists()


def test_too_many_buttons_and_bad_grouping_are_reported_for_the_list(client_for, editor):
    quick = [{"kind": "QUICK_REPLY", "text": f"Q{i}"} for i in range(11)]
    _, non_form = inline_errors(client_for(editor).post(ADD_URL, template_form(quick)))
    assert any("10" in message for message in non_form)
    mixed = [
        {"kind": "QUICK_REPLY", "text": "A"},
        {"kind": "URL", "text": "Go", "url": "https://x.example/"},
        {"kind": "QUICK_REPLY", "text": "B"},
    ]
    _, non_form = inline_errors(client_for(editor).post(ADD_URL, template_form(mixed)))
    assert any("together" in message.lower() or "group" in message.lower() for message in non_form)


def test_authentication_template_is_edited_through_its_options(client_for, editor):
    data = template_form(
        category="AUTHENTICATION",
        name="login_code",
        body="",
        body_samples="",
        code_expiration_minutes="10",
        otp_kind="COPY_CODE",
        otp_button_text="Copy code",
    )
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, form_errors(response)
    refused = client_for(editor).post(
        ADD_URL, {**data, "name": "login_tap", "otp_kind": "ONE_TAP", "code_expiration_minutes": "91"}
    )
    errors = form_errors(refused)
    assert "otp_package_name" in errors and "code_expiration_minutes" in errors


@pytest.mark.parametrize(
    "otp,extra",
    [
        ("COPY_CODE", {}),
        ("ONE_TAP", {"otp_package_name": "com.demo.shop", "otp_signature_hash": "K8a/AINcGX7"}),
        (
            "ZERO_TAP",
            {
                "otp_package_name": "com.demo.shop",
                "otp_signature_hash": "K8a/AINcGX7",
                "zero_tap_terms_accepted": "on",
            },
        ),
    ],
)
def test_authentication_template_with_each_otp_button_kind(client_for, editor, otp, extra):
    data = template_form(
        category="AUTHENTICATION", name=f"code_{otp.lower()}", body="", body_samples="", otp_kind=otp, **extra
    )
    response = client_for(editor).post(ADD_URL, data)
    assert response.status_code == 302, form_errors(response)
    template = MessageTemplate.objects.get(name=f"code_{otp.lower()}")
    from templates_app.drafts import Draft

    button = Draft.from_template(template).components()[-1]["buttons"][0]
    assert button["otp_type"] == otp


def test_zero_tap_without_accepting_the_terms_is_refused(client_for, editor):
    data = template_form(
        category="AUTHENTICATION",
        name="code_zero",
        body="",
        body_samples="",
        otp_kind="ZERO_TAP",
        otp_package_name="com.demo.shop",
        otp_signature_hash="K8a/AINcGX7",
    )
    errors = form_errors(client_for(editor).post(ADD_URL, data))
    assert "terms" in " ".join(errors["zero_tap_terms_accepted"])


@pytest.mark.parametrize(
    "extra,expected",
    [
        ({}, ["Hi Pablo, your order ORD-9271 ships today."]),
        (
            {"body": "*Big* _news_ ~old~ <script>x</script>", "body_samples": ""},
            ["<strong>Big</strong>", "<em>news</em>", "<del>old</del>", "&lt;script&gt;"],
        ),
        ({"header_kind": "IMAGE"}, ["[Image]"]),
        ({"header_kind": "TEXT", "header_text": "Order {{1}}", "header_sample": "ORD-1"}, ["Order ORD-1"]),
    ],
)
def test_preview_renders_the_form_as_typed(client_for, editor, extra, expected):
    response = client_for(editor).post(PREVIEW_URL, template_form(**extra))
    assert response.status_code == 200
    html = response.content.decode()
    for fragment in expected:
        assert fragment in html
    assert "<script>" not in html


def test_preview_draws_buttons(client_for, editor):
    data = template_form(
        [{"kind": "QUICK_REPLY", "text": "Stop promotions"}, {"kind": "COPY_CODE", "code_sample": "S"}]
    )
    html = client_for(editor).post(PREVIEW_URL, data).content.decode()
    assert "Stop promotions" in html and "Copy offer code" in html


def test_preview_never_fails_on_half_typed_input(client_for, editor):
    response = client_for(editor).post(
        PREVIEW_URL, {"body": "{{", "body_samples": "nonsense", "buttons-TOTAL_FORMS": "x", "category": "??"}
    )
    assert response.status_code == 200


def test_preview_is_post_only(client_for, editor):
    assert client_for(editor).get(PREVIEW_URL).status_code == 405


@pytest.mark.parametrize("role_fixture", ["approver", "support", "auditor"])
def test_readers_can_view_but_not_edit_or_submit(request, client_for, role_fixture):
    template = MessageTemplate.objects.create(name="t", language="en", category="UTILITY", body="Hi {{1}}!")
    client = client_for(request.getfixturevalue(role_fixture))
    assert (
        client.get(reverse("admin:templates_app_messagetemplate_change", args=[template.pk])).status_code
        == 200
    )
    assert client.post(ADD_URL, template_form()).status_code == 403
    submit = reverse("admin:templates_app_messagetemplate_submit", args=[template.pk])
    assert client.post(submit).status_code == 403
    assert client.post(reverse("admin:templates_app_messagetemplate_sync")).status_code == 403


def test_a_template_under_review_says_nothing_is_sent_with_it(
    client_for, editor, memory_backend, draft_template
):
    from core.actors import Actor
    from templates_app.services import template_submit

    template_submit(template=draft_template, actor=Actor.for_user(editor))
    html = (
        client_for(editor)
        .get(reverse("admin:templates_app_messagetemplate_change", args=[draft_template.pk]))
        .content.decode()
    )
    assert "PENDING" in html and "nothing is sent with it until WhatsApp approves it" in html
    assert "scheduled sends wait" not in html
