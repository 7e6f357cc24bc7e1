"""The campaign admin's forms: the draft's content, the workflow's comments, the test send.

The draft form checks only what a form can (an object where JSON is expected, a choice that
exists); everything about the campaign itself is the services' to decide, and the admin puts
their refusal on the field they name (``messaging.admin_campaigns``).
"""

import json
from collections import defaultdict

from django import forms
from django.db.models import Q

from contacts.models import Contact, Segment, TestNumber
from messaging.campaign_models import Campaign, HeaderMediaSource, ScheduleKind
from templates_app.models import MessageTemplate, TemplateStatus

# Where a service's ``field`` differs from the form's field name.
SERVICE_FIELDS = {
    "header_media": "header_media_file",
    "media": "header_media_file",
    "schedule": "schedule_kind",
}
REJECT_COMMENT_MAX_LENGTH = 2000
MEMBERS_SHOWN = 20


def approved_templates():
    return (
        MessageTemplate.objects.filter(status=TemplateStatus.APPROVED, approved_version__isnull=False)
        .select_related("approved_version")
        .order_by("name", "language")
    )


class TemplateChoiceField(forms.ModelChoiceField):
    """Each APPROVED row is a choice (its language is the campaign's default); the label says in
    which other languages the same template is approved, since those are used where they fit."""

    def __init__(self, **kwargs):
        super().__init__(queryset=approved_templates(), **kwargs)
        self.languages = {}

    def _set_languages(self):
        languages = defaultdict(list)
        for name, language in self.queryset.values_list("name", "language"):
            languages[name].append(language)
        self.languages = languages

    def label_from_instance(self, obj):
        if not self.languages:
            self._set_languages()
        others = [code for code in self.languages.get(obj.name, []) if code != obj.language]
        category = obj.approved_version.category if obj.approved_version_id else obj.category
        label = f"{obj.name} ({obj.language}) — {category.lower()}"
        return label + (f" · also approved in {', '.join(others)}" if others else " · only this language")


class BindingsField(forms.JSONField):
    """The bindings as indented JSON: the source of truth the editor's rows write into, usable
    without JavaScript. Only its shape is checked here; what it binds is the services' check."""

    default_error_messages = {
        "invalid": "The bindings are not valid JSON; the editor above writes them for you.",
    }

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value if value is not None else {}, indent=2, ensure_ascii=False)

    def to_python(self, value):
        value = super().to_python(value)
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'The bindings must be an object: {"body": {...}, "header": {...}, "buttons": {...}}.',
                code="invalid",
            )
        for section, entries in value.items():
            if section not in ("body", "header", "buttons"):
                raise forms.ValidationError(
                    f"“{section}” is not a part of a template: "
                    "bind variables under body, header and buttons.",
                    code="invalid",
                )
            if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
                raise forms.ValidationError(
                    f"The {section} bindings must map each variable to "
                    '{"source": …, "value": …, "fallback": …, "format": …}.',
                    code="invalid",
                )
        return value


class CampaignForm(forms.ModelForm):
    template = TemplateChoiceField(
        help_text="Only templates WhatsApp approved. This row's language is the default: each contact "
        "gets the template in their own language where it is approved, else this one."
    )
    segment = forms.ModelChoiceField(
        queryset=Segment.objects.filter(archived=False),
        help_text="Who it is for. Members are evaluated when it is sent "
        "(consent and opt-outs as they are then).",
    )
    bindings = BindingsField(
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 8, "cols": 80, "spellcheck": "false", "class": "campaign-bindings vLargeTextField"}
        ),
        help_text="Where each variable's value comes from; the editor above writes this for you.",
    )

    header_media_link = forms.URLField(
        required=False,
        max_length=2000,
        assume_scheme="https",
        label="Header media link",
        help_text="A public https address of the file; WhatsApp fetches it when the message is sent.",
    )

    class Meta:
        model = Campaign
        fields = [
            "name",
            "template",
            "segment",
            "bindings",
            "header_media_source",
            "header_media_link",
            "header_media_file",
            "rate_cap",
            "schedule_kind",
            "send_at",
            "local_date",
            "local_time",
            "latest_send_at",
        ]

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get("header_media_source")
        if source == HeaderMediaSource.LINK and not cleaned.get("header_media_link"):
            self.add_error(
                "header_media_link", "Give the link to the header's file, or choose no header media."
            )
        if (
            source == HeaderMediaSource.UPLOAD
            and not cleaned.get("header_media_file")
            and not self.instance.header_media_file
        ):
            self.add_error("header_media_file", "Choose the file to upload, or choose no header media.")
        kind = cleaned.get("schedule_kind")
        if kind == ScheduleKind.AT and not cleaned.get("send_at"):
            self.add_error("send_at", "Give the time to send at, or choose another schedule.")
        if kind == ScheduleKind.LOCAL:
            for name in ("local_date", "local_time"):
                if not cleaned.get(name):
                    self.add_error(
                        name, "A local-time schedule needs the day and the time on each recipient's clock."
                    )
        return cleaned

    def service_error(self, exc) -> None:
        """Put a service's refusal on the field it names (or on the form when it names none)."""
        field = SERVICE_FIELDS.get(exc.field, exc.field)
        self.add_error(field if field in self.fields else None, exc.message)


class CommentForm(forms.Form):
    comment = forms.CharField(
        max_length=REJECT_COMMENT_MAX_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )


class TestSendForm(forms.Form):
    SAMPLE = "sample"
    MEMBER = "member"

    test_number = forms.ModelChoiceField(
        queryset=TestNumber.objects.filter(active=True).select_related("contact"),
        empty_label=None,
        help_text="Staff phones an Administrator added, each with its own recorded opt-in.",
    )
    values = forms.ChoiceField(
        choices=[
            (SAMPLE, "Sample values (the template's examples and the fallbacks)"),
            (MEMBER, "As a member"),
        ],
        initial=SAMPLE,
        widget=forms.RadioSelect,
    )
    member = forms.CharField(
        required=False,
        max_length=100,
        label="Member (phone, name or #id)",
        help_text="The message is rendered with this member's values; it goes to the test number only.",
    )

    def __init__(self, *args, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.members = members

    def clean(self):
        cleaned = super().clean()
        cleaned["member_contact"] = None
        if cleaned.get("values") != self.MEMBER:
            return cleaned
        query = (cleaned.get("member") or "").strip()
        if not query:
            self.add_error("member", "Name the member whose values to use, or choose sample values.")
            return cleaned
        found = list(member_search(self.members, query)[: MEMBERS_SHOWN + 1])
        if not found:
            self.add_error("member", f"No member of the campaign's segment matches “{query}”.")
        elif len(found) > 1:
            shown = ", ".join(f"{c} (#{c.pk})" for c in found[:MEMBERS_SHOWN])
            self.add_error("member", f"{len(found)} members match “{query}”: {shown}. Give the #id of one.")
        else:
            cleaned["member_contact"] = found[0]
        return cleaned


def member_search(members, query: str):
    """Members whose phone, name or id matches: ``#12`` is an id, digits a phone, else a name."""
    query = query.strip()
    if members is None or not query:
        return Contact.objects.none()
    if query.startswith("#") and query[1:].isdigit() and len(query) < 19:
        return members.filter(pk=int(query[1:]))
    digits = "".join(ch for ch in query if ch.isdigit())
    if digits and len(digits) >= 3 and not any(ch.isalpha() for ch in query):
        return members.filter(phone__contains=digits).order_by("phone")
    condition = Q()
    for word in query.split()[:4]:
        condition &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return members.filter(condition).order_by("first_name", "last_name", "pk")
