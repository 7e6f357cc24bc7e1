"""Surveys' part of a contact merge: runs and answers follow the person to the surviving row.

Connected to ``contacts.signals`` in ``SurveysConfig.ready`` (contacts may not import surveys).
Both rows are locked by the merge; a person has at most one running survey, so when both rows
have one, the merged-away row's is abandoned before its runs move.
"""

from __future__ import annotations

from contacts.models import Contact
from surveys.models import Answer, RunState, SurveyRun
from surveys.services import run_abandon

RUNS = "survey runs"
ANSWERS = "survey answers"


def move_runs(sender, *, survivor: Contact, merged: Contact, **kwargs) -> dict[str, int]:
    if SurveyRun.objects.filter(contact_id=survivor.pk, state=RunState.RUNNING).exists():
        for run in SurveyRun.objects.filter(contact_id=merged.pk, state=RunState.RUNNING):
            run_abandon(
                run=run, reason=f"Merged into contact #{survivor.pk}, who was answering another survey."
            )
    runs = SurveyRun.objects.filter(contact_id=merged.pk).update(contact_id=survivor.pk)
    answers = Answer.objects.filter(contact_id=merged.pk).update(contact_id=survivor.pk)
    return {RUNS: runs, ANSWERS: answers}


def count_runs(sender, *, survivor: Contact, merged: Contact, **kwargs) -> dict[str, int]:
    return {
        RUNS: SurveyRun.objects.filter(contact_id=merged.pk).count(),
        ANSWERS: Answer.objects.filter(contact_id=merged.pk).count(),
    }
