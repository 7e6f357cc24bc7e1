"""An approved template edited in the admin: the page says what is sent today (the approved version)
and what the draft would change, and that the draft is not sent until WhatsApp approves it."""

import pytest
from django.urls import reverse

from core.actors import Actor
from templates_app.models import TemplateButton
from templates_app.selectors import draft_comparison
from templates_app.services import template_apply_status, template_submit

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:templates_app_messagetemplate_changelist")
OLD_BODY = "Hi Pablo, our spring sale starts tomorrow. Reply STOP to opt out."
NEW_BODY = "Hi Pablo, our summer sale starts tomorrow. Reply STOP to opt out."


def change_url(template):
    return reverse("admin:templates_app_messagetemplate_change", args=[template.pk])


@pytest.fixture
def approved(memory_backend, draft_template, editor):
    """spring_sale, submitted and approved as version 1."""
    template_submit(template=draft_template, actor=Actor.for_user(editor))
    template_apply_status(template=draft_template, status="APPROVED", source="webhook")
    draft_template.refresh_from_db()
    return draft_template


def edit(template, **fields):
    for name, value in fields.items():
        setattr(template, name, value)
    template.save()
    return template


def section(html, element_id):
    start = html.index(f'id="{element_id}"')
    return (
        html[start : html.index("</section>", start)] if element_id == "template-versions" else html[start:]
    )


def test_template_page_shows_approved_and_pending_draft(client_for, editor, approved):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    html = client_for(editor).get(change_url(approved)).content.decode()
    versions = section(html, "template-versions")
    assert "Sent today: version 1 (approved)" in versions
    assert "Draft — not sent until WhatsApp approves it" in versions
    assert "not submitted yet" in versions
    sent_today = versions[versions.index('id="sent-today"') : versions.index('id="pending-draft"')]
    draft = versions[versions.index('id="pending-draft"') : versions.index('id="draft-differences"')]
    assert OLD_BODY in sent_today and NEW_BODY not in sent_today
    assert NEW_BODY in draft and OLD_BODY not in draft
    differences = versions[versions.index('id="draft-differences"') :]
    assert "Body" in differences
    assert "− Hi {{1}}, our spring sale starts {{2}}. Reply STOP to opt out." in differences
    assert "+ Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out." in differences
    # The status no longer just says "sendable".
    assert "Approved: sendable." not in html
    assert "The draft below is not sent until" in html


def test_an_unchanged_approved_template_shows_only_its_status(client_for, editor, approved):
    html = client_for(editor).get(change_url(approved)).content.decode()
    assert 'id="template-versions"' not in html
    assert "Approved: sendable." in html


def test_differences_name_header_footer_buttons_and_samples(approved):
    edit(approved, header_kind="TEXT", header_text="Spring news", footer="Demo Shop Berlin")
    approved.body_samples = {"1": "Ana", "2": "tomorrow"}
    approved.save()
    TemplateButton.objects.filter(template=approved, position=0).update(text="Shop the sale")
    comparison = draft_comparison(approved)
    parts = {difference.part: difference for difference in comparison.differences}
    assert set(parts) == {"Header", "Footer", "Buttons", "Samples"}
    assert [(line.mark, line.text) for line in parts["Header"].lines] == [("+", "Text: Spring news")]
    assert ("−", "Demo Shop") in [(line.mark, line.text) for line in parts["Footer"].lines]
    assert ("+", "Demo Shop Berlin") in [(line.mark, line.text) for line in parts["Footer"].lines]
    buttons = [(line.mark, line.text) for line in parts["Buttons"].lines]
    assert ("−", "Quick reply: Shop now") in buttons and ("+", "Quick reply: Shop the sale") in buttons
    assert (" ", "Quick reply: Stop promotions (opts out of marketing)") in buttons
    assert ("+", "{{1}} = Ana") in [(line.mark, line.text) for line in parts["Samples"].lines]


def test_moving_the_opt_out_to_another_button_is_a_difference(approved):
    TemplateButton.objects.filter(template=approved, position=1).update(opt_out_purpose="")
    TemplateButton.objects.filter(template=approved, position=0).update(opt_out_purpose="marketing")
    buttons = [
        (line.mark, line.text)
        for d in draft_comparison(approved).differences
        if d.part == "Buttons"
        for line in d.lines
    ]
    assert ("+", "Quick reply: Shop now (opts out of marketing)") in buttons
    assert ("−", "Quick reply: Stop promotions (opts out of marketing)") in buttons


def test_a_submitted_edit_under_review_is_shown_beside_the_last_approved_version(
    client_for, editor, approved
):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    template_submit(template=approved, actor=Actor.for_user(editor))
    approved.refresh_from_db()
    assert approved.status == "PENDING"
    html = client_for(editor).get(change_url(approved)).content.decode()
    versions = section(html, "template-versions")
    # Under review, nothing is sent: the page must not claim version 1 still goes out.
    assert "Sent today" not in versions
    assert "Last approved: version 1" in versions and "nothing is sent with this template" in versions
    assert "Draft — not sent until WhatsApp approves it" in versions
    assert "Submitted as version 2" in versions and "WhatsApp is reviewing it" in versions
    assert "+ Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out." in versions


def test_a_draft_changed_again_after_submission_says_so(client_for, editor, approved):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    template_submit(template=approved, actor=Actor.for_user(editor))
    approved.refresh_from_db()
    edit(approved, footer="Demo Shop Hamburg")
    html = client_for(editor).get(change_url(approved)).content.decode()
    assert "changed since version 2 was submitted" in html


def test_an_approved_edit_is_what_is_sent_and_the_page_is_plain_again(client_for, editor, approved):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    template_submit(template=approved, actor=Actor.for_user(editor))
    template_apply_status(template=approved, status="APPROVED", source="webhook")
    approved.refresh_from_db()
    assert approved.approved_version.number == 2
    html = client_for(editor).get(change_url(approved)).content.decode()
    assert 'id="template-versions"' not in html and "Approved: sendable." in html


def test_a_template_never_approved_has_no_comparison(client_for, editor, draft_template):
    html = client_for(editor).get(change_url(draft_template)).content.decode()
    assert 'id="template-versions"' not in html
    assert draft_comparison(draft_template).pending is False


def test_a_new_media_sample_not_yet_uploaded_is_a_difference(approved):
    from django.core.files.base import ContentFile

    edit(approved, header_kind="IMAGE")
    approved.header_media.save("spring.jpg", ContentFile(b"\xff\xd8\xff"), save=True)
    parts = {d.part: d for d in draft_comparison(approved).differences}
    assert ("+", "Image (chosen when sending)") in [(line.mark, line.text) for line in parts["Header"].lines]
    assert any(line.text.startswith("Header sample file: ") for line in parts["Samples"].lines)


# --- The list page ------------------------------------------------------------------------


def test_the_list_does_not_call_an_edited_template_simply_approved(client_for, editor, approved):
    other = edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    html = client_for(editor).get(CHANGELIST).content.decode()
    row = html[html.index(f"/{other.pk}/change/") :]
    row = row[: row.index("</tr>")]
    assert "APPROVED" in row and "draft changed, not submitted" in row


def test_the_list_says_an_edit_is_under_review(client_for, editor, approved):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    template_submit(template=approved, actor=Actor.for_user(editor))
    html = client_for(editor).get(CHANGELIST).content.decode()
    row = html[html.index(f"/{approved.pk}/change/") :]
    row = row[: row.index("</tr>")]
    assert "PENDING" in row and "edit of version 1 under review" in row


def test_the_list_stays_plain_for_an_unchanged_approved_template(client_for, editor, approved):
    html = client_for(editor).get(CHANGELIST).content.decode()
    row = html[html.index(f"/{approved.pk}/change/") :]
    row = row[: row.index("</tr>")]
    assert "APPROVED" in row and "draft" not in row and "review" not in row


def test_the_list_costs_the_same_queries_for_more_templates(
    client_for, editor, approved, django_assert_max_num_queries
):
    from templates_app.drafts import Draft
    from templates_app.models import MessageTemplate, TemplateVersion

    client = client_for(editor)
    client.get(CHANGELIST)  # warm the session and the permission cache
    with django_assert_max_num_queries(20) as one:
        client.get(CHANGELIST)
    for number in range(5):
        copy = MessageTemplate.objects.create(
            name=f"copy_{number}", language="en", category="UTILITY", body=f"Copy {number}", status="APPROVED"
        )
        TemplateButton.objects.create(template=copy, kind="QUICK_REPLY", text="OK")
        version = TemplateVersion.objects.create(
            template=copy,
            number=1,
            category="UTILITY",
            parameter_format="POSITIONAL",
            components=Draft.from_template(copy).components(),
            review="APPROVED",
        )
        copy.approved_version = version
        copy.body = f"Copy {number}, edited" if number % 2 else copy.body
        copy.save()
    with django_assert_max_num_queries(len(one.captured_queries)):
        client.get(CHANGELIST)


# --- Roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role_fixture", ["approver", "support", "auditor"])
def test_readers_see_the_same_honest_status(request, client_for, role_fixture, approved):
    edit(approved, body="Hi {{1}}, our summer sale starts {{2}}. Reply STOP to opt out.")
    client = client_for(request.getfixturevalue(role_fixture))
    page = client.get(change_url(approved))
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        "Sent today: version 1 (approved)" in html and "Draft — not sent until WhatsApp approves it" in html
    )
    assert "draft changed, not submitted" in client.get(CHANGELIST).content.decode()


def test_staff_without_template_access_cannot_open_the_page(client_for, approved):
    from tests.factories import UserFactory

    client = client_for(UserFactory(username="nobody"))
    assert client.get(change_url(approved)).status_code in (302, 403)
