"""The conditions about contacts: tags, custom fields, language, country, time zone, created,
consent, wrote to us, member of another segment, in a static list.

Each compiles to a ``Q`` that is TRUE or FALSE for every contact (never NULL): subqueries are
``EXISTS`` (no join, so no duplicate rows and no ``DISTINCT``), columns are NOT NULL or Django's
own lookups (which handle NULL under negation). Dates in rules are days in the shop's time zone
(``settings.TIME_ZONE``).
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from functools import cache

import phonenumbers
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from contacts.languages import META_LANGUAGES
from contacts.models import (
    AttributeDefinition,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    ContactList,
    ContactListMember,
    CurrentConsent,
    Purpose,
    Segment,
)
from contacts.segments.attributes import NO_VALUE, OPERATOR_LABELS, OPERATORS, attribute_q, parse_value
from contacts.segments.registry import (
    CHOICE,
    CHOICES,
    DATE,
    INT,
    REFERENCE,
    TEXT,
    VALUE,
    ConditionKind,
    FieldSpec,
    RuleProblem,
    register,
)
from contacts.selectors import _from_source

MAX_DAYS = 36500
NO_CONSENT = "none"


def day_start(day: str) -> datetime:
    """Midnight at the start of an ISO day, in the shop's time zone."""
    return timezone.make_aware(datetime.combine(date.fromisoformat(day), time.min))


@cache
def _time_zones() -> tuple[tuple[str, str], ...]:
    return tuple((name, name) for name in sorted(zoneinfo.available_timezones()))


@cache
def _countries() -> tuple[tuple[str, str], ...]:
    return tuple((code, code) for code in sorted(phonenumbers.SUPPORTED_REGIONS))


def _languages():
    return sorted(META_LANGUAGES.items(), key=lambda item: item[1])


def _live_segments():
    return list(Segment.objects.filter(archived=False).values_list("pk", "name"))


def _lists():
    return list(ContactList.objects.values_list("pk", "name"))


def _attributes():
    return [
        (d.key, f"{d.label or d.key} ({d.get_type_display().lower()})")
        for d in AttributeDefinition.objects.all()
    ]


# --- readings ------------------------------------------------------------------------------------
# What the describe functions return: the plain-language reading of one condition, shown to
# Approvers and Auditors (who read rules, not JSON) and in refusals ("Rule 2 (has tag “VIP”): …").
# They also read malformed rules (a refusal names the rule it refuses), so they never assume a type.


def _one_of(values) -> str:
    values = [str(value) for value in values] if isinstance(values, list) else [str(values)]
    if len(values) == 1:
        return values[0]
    return "one of " + ", ".join(values)


def _named(model, pk) -> str:
    """“Buyers” for a segment or list id; its id when it is gone (or the rule is malformed)."""
    name = None
    if isinstance(pk, int) and not isinstance(pk, bool):
        name = model.objects.filter(pk=pk).values_list("name", flat=True).first()
    return f"“{name}”" if name is not None else f"#{pk}"


def _shown(value) -> str:
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"“{value}”" if isinstance(value, str) else str(value)


def _describe_attribute(values) -> str:
    operator = values.get("operator")
    text = f"custom field “{values.get('key', '')}” {OPERATOR_LABELS.get(operator, operator)}"
    if operator in NO_VALUE or values.get("value") is None:
        return text
    return f"{text} {_shown(values['value'])}"


def _describe_languages(values) -> str:
    codes = values.get("in") if isinstance(values.get("in"), list) else []
    return "language is " + _one_of([f"{META_LANGUAGES.get(code, code)} ({code})" for code in codes])


def _describe_created(values) -> str:
    parts = []
    if values.get("within_days") is not None:
        parts.append(f"within the last {values['within_days']} days")
    if values.get("after"):
        parts.append(f"after {values['after']}")
    if values.get("before"):
        parts.append(f"before {values['before']}")
    return "created " + " and ".join(parts or ["(no date)"])


def _describe_consent(values) -> str:
    purposes, statuses = dict(Purpose.choices), {**dict(ConsentStatus.choices), NO_CONSENT: "none recorded"}
    purpose, status = values.get("purpose"), values.get("status")
    text = (
        f"{str(purposes.get(purpose, purpose)).lower()} consent: {str(statuses.get(status, status)).lower()}"
    )
    if values.get("since"):
        text += f", in effect since {values['since']} or later"
    if values.get("before"):
        text += f", in effect since before {values['before']}"
    if values.get("source"):
        text += f", from {str(dict(ConsentSource.choices).get(values['source'], values['source'])).lower()}"
    return text


# --- tag -----------------------------------------------------------------------------------------


def _check_tag(values, context):
    if not context.tag_exists(values["tag"]):
        raise RuleProblem(f"There is no tag “{values['tag']}”.", field="tag")
    return values


def _compile_tag(values, context) -> Q:
    through = Contact.tags.through.objects.alias(tag_name=Lower("tag__name"))
    return Q(Exists(through.filter(contact_id=OuterRef("pk"), tag_name=values["tag"].lower())))


TAG = ConditionKind(
    name="tag",
    label="Has tag",
    help="Contacts with this tag (upper or lower case alike).",
    fields=(FieldSpec("tag", "Tag", TEXT, help="The tag's name."),),
    check=_check_tag,
    compile=_compile_tag,
    describe=lambda v: f"has tag “{v.get('tag', '')}”",
)


# --- attribute -----------------------------------------------------------------------------------


def _check_attribute(values, context):
    key, operator = values["key"], values["operator"]
    attribute_type = context.attribute_type(key)
    if attribute_type is None:
        raise RuleProblem(
            f"There is no custom field “{key}”: declare it under Custom fields first.", field="key"
        )
    allowed = OPERATORS[attribute_type]
    if operator not in allowed:
        raise RuleProblem(
            f"“{OPERATOR_LABELS.get(operator, operator)}” does not fit a {attribute_type} field; use one of: "
            + ", ".join(OPERATOR_LABELS[o] for o in allowed)
            + ".",
            field="operator",
        )
    if operator in NO_VALUE:
        if values.get("value") not in (None, ""):
            raise RuleProblem(f"“{OPERATOR_LABELS[operator]}” takes no value.", field="value")
        values.pop("value", None)
        return values
    if "value" not in values:
        raise RuleProblem("A value is needed.", field="value")
    if operator == "in":
        raw = values["value"]
        if not isinstance(raw, list) or not raw:
            raise RuleProblem("“is one of” needs a list of values, e.g. [1, 2, 3].", field="value")
        if len(raw) > 1000:
            raise RuleProblem("“is one of” takes at most 1000 values.", field="value")
        parsed = [parse_value(attribute_type, item, key=key) for item in raw]
        values["value"] = list(dict.fromkeys(parsed))
    else:
        values["value"] = parse_value(attribute_type, values["value"], key=key)
    return values


def _compile_attribute(values, context) -> Q:
    return attribute_q(
        key=values["key"],
        attribute_type=context.attribute_type(values["key"]),
        operator=values["operator"],
        value=values.get("value"),
    )


ATTRIBUTE = ConditionKind(
    name="attribute",
    label="Custom field",
    help="Compares a custom field by its declared type: numbers as numbers, dates as dates.",
    fields=(
        FieldSpec("key", "Custom field", TEXT, choices=_attributes),
        FieldSpec("operator", "Operator", CHOICE, choices=lambda: list(OPERATOR_LABELS.items())),
        FieldSpec("value", "Value", VALUE, required=False, help="A list for “is one of”: [1, 2]."),
    ),
    check=_check_attribute,
    compile=_compile_attribute,
    describe=_describe_attribute,
)


# --- language, country, time zone ------------------------------------------------------------------


def _column_in(column: str):
    return lambda values, context: Q(**{f"{column}__in": values["in"]})


LANGUAGE = ConditionKind(
    name="language",
    label="Language",
    help="Contacts whose language is one of these.",
    fields=(FieldSpec("in", "Languages", CHOICES, choices=_languages),),
    compile=_column_in("language"),
    describe=lambda v: (
        "language is " + _one_of([f"{META_LANGUAGES.get(c, c)} ({c})" for c in v.get("in") or []])
    ),
)
COUNTRY = ConditionKind(
    name="country",
    label="Country",
    help="Contacts whose country is one of these (two-letter codes).",
    fields=(FieldSpec("in", "Countries", CHOICES, choices=_countries),),
    compile=_column_in("country"),
    describe=lambda v: "country is " + _one_of(v.get("in") or []),
)
TIME_ZONE = ConditionKind(
    name="time_zone",
    label="Time zone",
    help="Contacts whose time zone is one of these (names such as Europe/Berlin).",
    fields=(FieldSpec("in", "Time zones", CHOICES, choices=_time_zones),),
    compile=_column_in("time_zone"),
    describe=lambda v: "time zone is " + _one_of(v.get("in") or []),
)


# --- created -------------------------------------------------------------------------------------


def _check_created(values, context):
    within = values.get("within_days")
    after, before = values.get("after"), values.get("before")
    if within is not None and (after or before):
        raise RuleProblem("Give either “within the last N days” or dates, not both.", field="within_days")
    if within is None and not (after or before):
        raise RuleProblem("Give a date after, a date before, or “within the last N days”.", field="after")
    if after and before and after >= before:
        raise RuleProblem(f"No day is after {after} and before {before}.", field="before")
    return values


def _compile_created(values, context) -> Q:
    q = Q()
    if values.get("within_days") is not None:
        q &= Q(created_at__gte=context.now - timedelta(days=values["within_days"]))
    if values.get("after"):
        # "After" a day: from the next day on.
        q &= Q(created_at__gte=day_start(values["after"]) + timedelta(days=1))
    if values.get("before"):
        q &= Q(created_at__lt=day_start(values["before"]))
    return q


CREATED = ConditionKind(
    name="created",
    label="Created",
    help="When the contact was added: after a day, before a day (both: between), or within N days.",
    fields=(
        FieldSpec("after", "After (not on) the day", DATE, required=False),
        FieldSpec("before", "Before the day", DATE, required=False),
        FieldSpec("within_days", "Within the last N days", INT, required=False, min=1, max=MAX_DAYS),
    ),
    check=_check_created,
    compile=_compile_created,
    describe=_describe_created,
)


# --- consent -------------------------------------------------------------------------------------


def _check_consent(values, context):
    if values["status"] == NO_CONSENT:
        extra = [name for name in ("since", "before", "source") if values.get(name)]
        if extra:
            raise RuleProblem(
                "“No consent recorded” has no date or source; remove " + ", ".join(extra) + ".",
                field=extra[0],
            )
    since, before = values.get("since"), values.get("before")
    if since and before and since >= before:
        raise RuleProblem(f"No day is on or after {since} and before {before}.", field="before")
    return values


def _compile_consent(values, context) -> Q:
    current = CurrentConsent.objects.filter(contact_id=OuterRef("pk"), purpose=values["purpose"])
    if values["status"] == NO_CONSENT:
        return ~Q(Exists(current))
    current = current.filter(status=values["status"])
    if values.get("since"):
        current = current.filter(since__gte=day_start(values["since"]))
    if values.get("before"):
        current = current.filter(since__lt=day_start(values["before"]))
    if values.get("source"):
        # The deciding event's origin: a merge's copy of a web-form opt-in is a web-form opt-in
        # (selectors keeps the one definition of "from this source, or a merge's copy of one").
        origin = ConsentEvent.objects.filter(pk=OuterRef("event_id")).filter(_from_source(values["source"]))
        current = current.filter(Exists(origin))
    return Q(Exists(current))


CONSENT = ConditionKind(
    name="consent",
    label="Consent",
    help="Current consent for a purpose; “since”/“before” are about when it took effect.",
    fields=(
        FieldSpec("purpose", "Purpose", CHOICE, choices=lambda: Purpose.choices),
        FieldSpec(
            "status",
            "Status",
            CHOICE,
            choices=lambda: [*ConsentStatus.choices, (NO_CONSENT, "No consent recorded")],
        ),
        FieldSpec("since", "In effect since (on or after) the day", DATE, required=False),
        FieldSpec("before", "In effect since before the day", DATE, required=False),
        FieldSpec("source", "Source", CHOICE, required=False, choices=lambda: ConsentSource.choices),
    ),
    check=_check_consent,
    compile=_compile_consent,
    describe=_describe_consent,
)


# --- wrote to us -----------------------------------------------------------------------------------


WROTE_WITHIN_DAYS = ConditionKind(
    name="wrote_within_days",
    label="Wrote to us within N days",
    help="The contact's last message to us arrived within the last N days.",
    fields=(FieldSpec("days", "Days", INT, min=1, max=MAX_DAYS),),
    compile=lambda values, context: Q(last_inbound_at__gte=context.now - timedelta(days=values["days"])),
    describe=lambda v: f"wrote to us within the last {v.get('days', '?')} days",
)


# --- member of another segment -------------------------------------------------------------------


def _check_in_segment(values, context):
    segment_id = values["segment"]
    info = context.segment(segment_id)
    if info is None:
        raise RuleProblem(f"There is no segment #{segment_id}.", field="segment")
    if context.segment_id == segment_id:
        raise RuleProblem("A segment cannot include itself.", field="segment")
    if info.archived:
        raise RuleProblem(f"Segment “{info.name}” is archived: pick a live one.", field="segment")
    return values


IN_SEGMENT = ConditionKind(
    name="in_segment",
    label="Member of segment",
    help="Members of another segment, by its current rules.",
    fields=(FieldSpec("segment", "Segment", REFERENCE, choices=_live_segments),),
    check=_check_in_segment,
    compile=lambda values, context: context.compile_segment(values["segment"]),
    describe=lambda v: "member of segment " + _named(Segment, v.get("segment")),
)


# --- in a static list ----------------------------------------------------------------------------


def _check_in_list(values, context):
    if not context.list_exists(values["list"]):
        raise RuleProblem(f"There is no static list #{values['list']}.", field="list")
    return values


def _compile_in_list(values, context) -> Q:
    # A member merged away since the list was made counts as the contact it was merged into
    # (merged-away rows point at their survivor directly, so one step is enough).
    members = ContactListMember.objects.filter(contact_list_id=values["list"]).alias(
        person=Coalesce("contact__merged_into_id", "contact_id")
    )
    return Q(Exists(members.filter(person=OuterRef("pk"))))


IN_LIST = ConditionKind(
    name="in_list",
    label="In static list",
    help="Members of a static list (a pasted list of numbers or the contacts of an import).",
    fields=(FieldSpec("list", "Static list", REFERENCE, choices=_lists),),
    check=_check_in_list,
    compile=_compile_in_list,
    describe=lambda v: "in static list " + _named(ContactList, v.get("list")),
)


for _kind in (
    TAG,
    ATTRIBUTE,
    LANGUAGE,
    COUNTRY,
    TIME_ZONE,
    CREATED,
    CONSENT,
    WROTE_WITHIN_DAYS,
    IN_SEGMENT,
    IN_LIST,
):
    register(_kind)
