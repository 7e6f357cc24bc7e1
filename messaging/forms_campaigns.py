"""The campaign admin's forms: the draft's content, the workflow's comments, the test send.

The draft form checks what a form can (an object where JSON is expected, a choice that exists, a
file of the header's kind) and then saves through ``campaign_create`` / ``campaign_update``,
whose refusal it puts on the field they name.
"""

import json
import string
from collections import defaultdict

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import Contact, Segment, TestNumber
from core.actors import Actor
from core.admin_tools import is_id
from core.errors import ApplicationError
from messaging.campaign_models import Campaign, HeaderMediaSource, ScheduleKind
from messaging.campaigns.bindings import binding_leaves
from messaging.campaigns.languages import template_languages
from messaging.campaigns.media import link_problems, media_file_problems
from messaging.campaigns.readiness import media_formats, schedule_problems
from messaging.campaigns.workflow import EDITABLE, campaign_create, campaign_update
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
    without JavaScript (a carousel's cards, an offer's end and a location's place included). Only
    its shape is checked here; what it binds is the services' check."""

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
        # The document's shape — its parts (header, body, buttons, location, offer, cards), each
        # value an object of texts — as ``bindings.binding_leaves`` reads it for the services.
        problems = binding_leaves(value)[1]
        if problems:
            raise forms.ValidationError(problems, code="invalid")
        return value


class CampaignForm(forms.ModelForm):
    """The draft form, whose check is the service itself.

    ``campaign_create`` / ``campaign_update`` decide what a draft may hold; running them inside the
    form's validation (in a savepoint, undone on refusal) puts their refusal on the field they name,
    with everything typed kept, instead of a message above an emptied form. The admin's
    ``save_model`` then has nothing left to write.
    """

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

    actor: Actor
    saved = None

    def clean(self):
        cleaned = super().clean()
        self._check_presence(cleaned)
        if self.errors:
            return cleaned
        self._check_schedule(cleaned)
        self._check_media(cleaned)
        if self.errors:
            return cleaned
        fields = {name: cleaned[name] for name in EDITABLE if name in cleaned}
        _only_what_applies(fields)
        try:
            with transaction.atomic():
                if self.instance.pk:
                    self.saved = campaign_update(campaign=self.instance, actor=self.actor, **fields)
                else:
                    self.saved = campaign_create(actor=self.actor, **fields)
        except ApplicationError as exc:
            self.service_error(exc)
        return cleaned

    def _post_clean(self):
        # The service validated and saved the campaign; the model's own checks ran there.
        if self.saved is None:
            super()._post_clean()
        else:
            self.instance = self.saved

    def _check_schedule(self, cleaned):
        """A schedule in the past is refused when the draft is saved, not only at submission."""
        candidate = Campaign(
            **{
                name: cleaned.get(name)
                for name in ("schedule_kind", "send_at", "local_date", "local_time", "latest_send_at")
            }
        )
        for problem in schedule_problems(candidate, now=timezone.now(), approving=False):
            if problem.code == "campaign_schedule_missing":
                continue  # a draft may leave it open; submission asks for it
            field = problem.field if problem.field in self.fields else None
            self.add_error(field, problem.message)

    def _check_media(self, cleaned):
        """The uploaded file and the link against the template's header (type and size per Meta)."""
        template = cleaned.get("template")
        source = cleaned.get("header_media_source")
        if template is None:
            return
        kinds = {kind for kind in media_formats(template_languages(template)).values() if kind}
        if not kinds:
            if source:
                self.add_error(
                    "header_media_source",
                    "The template has no image, video or document header: choose no header media.",
                )
            return
        if len(kinds) > 1:
            return  # readiness names the languages that differ
        (kind,) = kinds
        upload = cleaned.get("header_media_file")
        if source == HeaderMediaSource.UPLOAD and isinstance(upload, UploadedFile):
            upload.seek(0)
            _, problems = media_file_problems(
                header_kind=kind, file=upload, filename=upload.name, size=upload.size
            )
            upload.seek(0)
            for problem in problems:
                self.add_error("header_media_file", problem)
        if source == HeaderMediaSource.LINK:
            for problem in link_problems(header_kind=kind, link=cleaned.get("header_media_link", "")):
                self.add_error("header_media_link", problem)

    def _check_presence(self, cleaned):
        """What the chosen kinds need: a link, a file, a send time, a local day and time."""
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
    if query.startswith("#") and is_id(query[1:]):
        return members.filter(pk=int(query[1:]))
    digits = "".join(ch for ch in query if ch in string.digits)
    if digits and len(digits) >= 3 and not any(ch.isalpha() for ch in query):
        return members.filter(phone__contains=digits).order_by("phone")
    condition = Q()
    for word in query.split()[:4]:
        condition &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return members.filter(condition).order_by("first_name", "last_name", "pk")


def _only_what_applies(fields: dict) -> None:
    """Keep only the schedule and media fields the chosen kinds use, so a value typed for another
    choice and left behind is never read later (a send time under "as soon as approved")."""
    kind = fields.get("schedule_kind")
    if kind != ScheduleKind.AT:
        fields["send_at"] = None
    if kind != ScheduleKind.LOCAL:
        fields["local_date"] = fields["local_time"] = None
    source = fields.get("header_media_source")
    if source != HeaderMediaSource.LINK:
        fields["header_media_link"] = ""
    upload = fields.get("header_media_file")
    if source != HeaderMediaSource.UPLOAD or upload is False or upload is None:
        fields["header_media_file"] = ""  # not an upload, "clear" ticked, or none given
