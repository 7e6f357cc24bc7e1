"""A survey's results: runs by state, answers per option, the chart's bars, and the answers as CSV.

Each figure is one grouped query, whatever the number of answers. Labels and cells are the texts
stored on the answers (our question text and option title as they were sent), so they say what
the person was asked. The CSV streams in chunks; its cells are formula-safe (``contacts.exports``:
a cell a spreadsheet would run starts with an apostrophe), as every download here is, and the
export is logged before the first row is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, Max

from contacts.exports import CHUNK_ROWS, csv_lines, safe_cell
from contacts.services import log_activity
from core.actors import Actor
from surveys.models import Answer, Question, RunState, Survey, SurveyRun

# The chart's geometry (SVG user units), as the campaign funnel draws it.
CHART_WIDTH, LABEL_WIDTH, BAR_HEIGHT, ROW_GAP = 560, 190, 22, 8
BAR_SPACE = CHART_WIDTH - LABEL_WIDTH - 100  # room left for the count after the longest bar


def run_counts(survey: Survey) -> dict[str, int]:
    counts = dict.fromkeys(RunState.values, 0)
    for row in SurveyRun.objects.filter(survey=survey).values("state").annotate(n=Count("id")).order_by():
        counts[row["state"]] = row["n"]
    return counts


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    pct: float
    y: int
    width: float
    text_y: int
    count_x: float

    @property
    def text(self) -> str:
        return f"{self.count} ({self.pct}%)"


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    text: str
    answers: int
    bars: list[Bar]

    @property
    def height(self) -> int:
        return max(len(self.bars), 1) * (BAR_HEIGHT + ROW_GAP)

    @property
    def description(self) -> str:
        return "; ".join(f"{bar.label}: {bar.count} ({bar.pct}%)" for bar in self.bars)


def question_results(survey: Survey) -> list[QuestionResult]:
    """Per question, each option's answers and share, as bars; options with no answer show as 0.

    A question or option with answers is labelled with the text they stored (the same for all of
    them: a started survey is frozen); one without, with its own.
    """
    rows = (
        Answer.objects.filter(question__survey=survey)
        .values("question_id", "option_id")
        .annotate(n=Count("id"), question_text=Max("question_text"), option_title=Max("option_title"))
        .order_by()
    )
    counts, asked, titles = {}, {}, {}
    for row in rows:
        key = (row["question_id"], row["option_id"])
        counts[key] = row["n"]
        titles[key] = row["option_title"]
        asked[row["question_id"]] = row["question_text"]
    results = []
    for question in survey.questions.prefetch_related("options").order_by("position", "id"):
        options = list(question.options.all())
        total = sum(counts.get((question.pk, option.pk), 0) for option in options)
        bars = []
        for index, option in enumerate(options):
            count = counts.get((question.pk, option.pk), 0)
            share = count / total if total else 0.0
            y = index * (BAR_HEIGHT + ROW_GAP)
            width = round(max(share * BAR_SPACE, 1 if count else 0), 1)
            bars.append(
                Bar(
                    label=titles.get((question.pk, option.pk)) or option.title,
                    count=count,
                    pct=round(100 * share, 1),
                    y=y,
                    width=width,
                    text_y=y + BAR_HEIGHT // 2 + 5,
                    count_x=LABEL_WIDTH + width + 8,
                )
            )
        text = asked.get(question.pk) or question.text
        results.append(QuestionResult(question=question, text=text, answers=total, bars=bars))
    return results


CHART = {
    "width": CHART_WIDTH,
    "label_width": LABEL_WIDTH,
    "label_x": LABEL_WIDTH - 8,
    "bar_height": BAR_HEIGHT,
}

# --- The CSV ---------------------------------------------------------------------------------------

COLUMNS = (
    "contact",
    "phone",
    "question",
    "answer",
    "answered_at",
    "contact_id",
    "run_id",
    "question_position",
)
_FIELDS = (
    "contact__first_name",
    "contact__last_name",
    "contact__phone",
    "contact__wa_id",
    "question_text",
    "option_title",
    "answered_at",
    "contact_id",
    "run_id",
    "question__position",
)


@dataclass(frozen=True)
class AnswerExport:
    rows: int
    lines: Iterator[str]


def answers_export(*, survey: Survey, actor: Actor) -> AnswerExport:
    """Log the export (``survey.answers_exported``, with the row count) and return its lines."""
    answers = Answer.objects.filter(question__survey=survey).order_by("answered_at", "id")
    count = answers.count()
    log_activity(actor=actor, action="survey.answers_exported", obj=survey, details={"rows": count})
    rows = answers.values_list(*_FIELDS).iterator(chunk_size=CHUNK_ROWS)
    return AnswerExport(rows=count, lines=csv_lines((_cells(row) for row in rows), header=COLUMNS))


def _cells(row: tuple) -> list[str]:
    first, last, phone, wa_id, question, answer, answered_at, contact_id, run_id, position = row
    name = " ".join(part for part in (first, last) if part)
    return [
        safe_cell(name),
        safe_cell(phone or (f"+{wa_id}" if wa_id else "")),
        safe_cell(question),
        safe_cell(answer),
        answered_at.astimezone(UTC).isoformat(timespec="seconds")
        if isinstance(answered_at, datetime)
        else "",
        str(contact_id),
        str(run_id),
        str(position),
    ]
