"""The results page (a chart per question) and the CSV export of the answers (formula-safe, logged)."""

import csv
import io

import pytest
from django.urls import reverse

from contacts.models import ActivityLogEntry
from surveys.models import Answer
from surveys.services import start_survey
from tests.factories import ContactFactory
from tests.surveys.conftest import AGENT, inbound_message, option, questions

pytestmark = pytest.mark.django_db


def answered(survey, contact, *titles):
    run = start_survey(contact=contact, survey=survey, actor=AGENT, reply_to=inbound_message(contact))
    for question, title in zip(questions(survey), titles, strict=False):
        Answer.objects.create(
            run=run,
            question=question,
            contact=contact,
            option=option(question, title),
            option_title=title,
            inbound=inbound_message(contact, title),
            answered_at=run.started_at,
        )
    return run


@pytest.fixture
def answers(survey):
    answered(
        survey, ContactFactory(first_name='=HYPERLINK("http://evil")', last_name="Doe"), "Great", "Staff"
    )
    answered(survey, ContactFactory(first_name="Ana"), "Great")
    answered(survey, ContactFactory(first_name="Ben"), "Poor", "Price")


def test_the_results_page_draws_a_bar_per_option_of_each_question(client_for, auditor, survey, answers):
    response = client_for(auditor).get(reverse("admin:surveys_survey_results", args=[survey.pk]))
    assert response.status_code == 200
    first, second = response.context["results"]
    assert [(b.label, b.count, b.pct) for b in first.bars] == [
        ("Great", 2, 66.7),
        ("OK", 0, 0.0),
        ("Poor", 1, 33.3),
    ]
    assert first.answers == 3 and second.answers == 2
    assert [(b.label, b.count) for b in second.bars] == [
        ("Waiting time", 0),
        ("Staff", 1),
        ("Price", 1),
        ("Nothing", 0),
    ]
    html = response.content.decode()
    assert html.count('class="survey-chart"') == 2 and html.count('class="survey-chart-bar"') == 7
    assert "Great: 2 (66.7%); OK: 0 (0.0%); Poor: 1 (33.3%)" in html
    assert response.context["runs"] == {"running": 3, "completed": 0, "abandoned": 0}
    assert 'id="survey-export"' in html


def test_the_results_page_queries_do_not_grow_with_the_answers(
    client_for, auditor, survey, answers, django_assert_max_num_queries
):
    client = client_for(auditor)
    url = reverse("admin:surveys_survey_results", args=[survey.pk])
    with django_assert_max_num_queries(12):
        client.get(url)
    for _ in range(5):
        answered(survey, ContactFactory(), "OK", "Nothing")
    with django_assert_max_num_queries(12):
        client.get(url)


def test_the_csv_export_is_formula_safe_and_logged(client_for, editor, survey, answers):
    response = client_for(editor).get(reverse("admin:surveys_survey_export", args=[survey.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["contact", "phone", "question", "answer", "answered_at"]
    assert len(rows) == 6
    evil = [row for row in rows[1:] if "HYPERLINK" in row[0]]
    assert evil and all(row[0].startswith("'=") for row in evil)
    assert {row[3] for row in rows[1:]} == {"Great", "Staff", "Poor", "Price"}
    entry = ActivityLogEntry.objects.get(action="survey.answers_exported")
    assert entry.actor_user == editor and entry.details == {"rows": 5} and entry.object_id == str(survey.pk)


def test_an_unknown_survey_is_a_404(client_for, auditor):
    assert client_for(auditor).get(reverse("admin:surveys_survey_results", args=[987654])).status_code == 404
