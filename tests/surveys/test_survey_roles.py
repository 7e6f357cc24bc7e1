"""Who may do what with surveys: Editors manage, Support reads and starts, Auditors read and export;
no one adds, changes or deletes a run or an answer."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from surveys.services import start_survey
from tests.surveys.conftest import AGENT, inbound_message

pytestmark = pytest.mark.django_db


def perms(role):
    return set(
        Group.objects.get(name=role)
        .permissions.filter(content_type__app_label="surveys")
        .values_list("codename", flat=True)
    )


def test_the_role_matrix():
    manage = {
        f"{a}_{m}" for m in ("survey", "question", "option", "buttontag") for a in ("add", "change", "delete")
    }
    view = {f"view_{m}" for m in ("survey", "question", "option", "surveyrun", "answer", "buttontag")}
    assert perms("Editor") == manage | view | {"export_answers"}
    assert perms("Support") == view | {"start_survey"}
    assert perms("Auditor") == view | {"export_answers"}
    assert perms("Approver") == set() and perms("Administrator") == set()
    for role in ("Editor", "Support", "Auditor"):
        assert not {
            p for p in perms(role) if p.endswith(("_answer", "_surveyrun")) and not p.startswith("view_")
        }


@pytest.mark.parametrize(
    ("role", "page", "status"),
    [
        ("editor", "results", 200),
        ("support", "results", 200),
        ("auditor", "results", 200),
        ("approver", "results", 403),
        ("administrator", "results", 403),
        ("editor", "export", 200),
        ("auditor", "export", 200),
        ("support", "export", 403),
        ("approver", "export", 403),
        ("editor", "change", 200),
        ("auditor", "change", 200),
        ("approver", "change", 403),
        ("editor", "answers", 200),
        ("support", "answers", 200),
        ("auditor", "answers", 200),
        ("approver", "answers", 403),
    ],
)
def test_each_page_by_role(client_for, request, survey, role, page, status):
    url = {
        "results": reverse("admin:surveys_survey_results", args=[survey.pk]),
        "export": reverse("admin:surveys_survey_export", args=[survey.pk]),
        "change": reverse("admin:surveys_survey_change", args=[survey.pk]),
        "answers": reverse("admin:surveys_answer_changelist"),
    }[page]
    assert client_for(request.getfixturevalue(role)).get(url).status_code == status


def test_answers_and_runs_are_read_only_for_everyone(client_for, editor, auditor, customer, survey):
    run = start_survey(contact=customer, survey=survey, actor=AGENT, reply_to=inbound_message(customer))
    for user in (editor, auditor):
        client = client_for(user)
        page = client.get(reverse("admin:surveys_surveyrun_change", args=[run.pk]))
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert client.post(reverse("admin:surveys_surveyrun_delete", args=[run.pk])).status_code == 403
        assert client.get(reverse("admin:surveys_answer_add")).status_code == 403


def test_the_survey_form_is_read_only_for_support_and_auditors(client_for, support, survey):
    page = client_for(support).get(reverse("admin:surveys_survey_change", args=[survey.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert (
        client_for(support).post(reverse("admin:surveys_survey_change", args=[survey.pk]), {}).status_code
        == 403
    )
