"""Proof of consent (per campaign, or for a period of other sends) and the back-dated opt-out report.

Each is registered on a proxy (``compliance.subject_models``), so the admin index lists them with
the other compliance reports. A campaign's results page links to its proof
(``compliance/proof/_campaign_link.html``). A proof page says how many messages it covers before
anything is downloaded; the download streams CSV or JSON Lines (``compliance.streaming``) and is
logged as an export with its filters and row count. Bad input (an unknown campaign, a malformed or
reversed period, an unknown output) is said on the page, never a 500. Who may: the compliance
export permission; phone numbers and evidence are masked without the personal-data permission.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.http import urlencode

from compliance.admin_base import ReadOnlyBehindExport
from compliance.backdated import backdated_count, backdated_rows
from compliance.campaign_proof import ProofScope, period_scope, proof_export, proof_messages
from compliance.dates import validate_in_range
from compliance.masking import masked_evidence, may_see_personal_data, should_mask
from compliance.streaming import OUTPUTS, streaming_response
from compliance.subject_models import BackdatedOptOutReport, ConsentProof
from compliance.subject_report import log_read, mask_phone
from contacts.models import Purpose
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign

BACKDATED_REPORT = "backdated_opt_outs"
# The back-dated report's page lists this many rows at most; the count says how many there are.
BACKDATED_PAGE_ROWS = 500


class _ReportAdmin(ReadOnlyBehindExport):
    """Read-only pages behind the compliance export permission."""

    def get_readonly_fields(self, request, obj=None):
        return ("recipient",) if may_see_personal_data(request.user) else ("masked_recipient",)

    def get_fields(self, request, obj=None):
        """A message's read-only page (it exists so the role test finds a change page): without the
        personal-data right, the recipient masked and the fields naming or quoting the person left
        out, as the exports mask them."""
        fields = super().get_fields(request, obj)
        if may_see_personal_data(request.user):
            return fields
        return [name for name in fields if name not in _PERSONAL_MESSAGE_FIELDS]

    @admin.display(description="recipient")
    def recipient(self, obj) -> str:
        return _recipient(obj.contact, mask=False)

    @admin.display(description="recipient (masked)")
    def masked_recipient(self, obj) -> str:
        return _recipient(obj.contact, mask=True)

    def _check(self, request) -> None:
        if not self.has_view_permission(request):
            raise PermissionDenied("This report takes the compliance export permission.")

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.model._meta, **extra}


# A message's fields that name the person or may quote them (the text, its parameters, the message
# it answers); the recipient is shown masked instead.
_PERSONAL_MESSAGE_FIELDS = (
    "contact",
    "reply_to",
    "parameters",
    "content",
    "rendered_text",
    "idempotency_key",
)


def _recipient(contact, *, mask: bool) -> str:
    """``Contact #12 (Ana Lima)``, or with the phone (masked when asked) for a contact without a name."""
    name = f"{contact.first_name} {contact.last_name}".strip()
    phone = mask_phone(contact.phone) if mask else contact.phone
    return f"Contact #{contact.pk} ({name or phone or 'no phone'})"


class PeriodForm(forms.Form):
    """A period of days in the shop's time zone, both ends included."""

    since = forms.DateField(
        label="From (day)", widget=forms.DateInput(attrs={"type": "date"}), validators=[validate_in_range]
    )
    until = forms.DateField(
        label="To (day, included)",
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_in_range],
    )
    purpose = forms.ChoiceField(
        choices=[("", "Any purpose"), *Purpose.choices], required=False, label="Purpose"
    )

    def scope(self) -> ProofScope:
        """The period as instants: from the first day's midnight to the midnight after the last."""
        zone = timezone.get_current_timezone()
        since = datetime.combine(self.cleaned_data["since"], time.min, tzinfo=zone)
        until = datetime.combine(self.cleaned_data["until"] + timedelta(days=1), time.min, tzinfo=zone)
        return period_scope(since=since, until=until, purpose=self.cleaned_data["purpose"])


def _output(request) -> tuple[str, str]:
    output = request.GET.get("output", "csv")
    if output not in OUTPUTS:
        return "", f"“{output[:20]}” is not an output; choose one of {', '.join(OUTPUTS)}."
    return output, ""


@admin.register(ConsentProof)
class ConsentProofAdmin(_ReportAdmin):
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "campaign/<int:campaign_id>/",
                view(self.campaign_view),
                name="compliance_consentproof_campaign",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        """The proof for a period of non-campaign sends: the form, the count, then the download."""
        self._check(request)
        form = PeriodForm(request.GET or None)
        scope, problem = None, ""
        if form.is_valid():
            try:
                scope = form.scope()
            except ApplicationError as exc:
                problem = exc.message
        elif form.is_bound:
            problem = "Correct the period below."
        context = self._context(
            request, title="Proof of consent: sends outside campaigns", form=form, problem=problem
        )
        return self._proof_page(request, scope, context, filename="consent-proof-period")

    def campaign_view(self, request, campaign_id):
        """A campaign's proof: every message, the consent that authorised it, the opt-outs it caused."""
        self._check(request)
        campaign = Campaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            context = self._context(
                request, title="Proof of consent", problem=f"There is no campaign with the id {campaign_id}."
            )
            return TemplateResponse(request, "compliance/proof/proof.html", context, status=404)
        context = self._context(request, title=f"Proof of consent: {campaign.name}", campaign=campaign)
        return self._proof_page(
            request, ProofScope(campaign=campaign), context, filename=f"consent-proof-campaign-{campaign.pk}"
        )

    def _proof_page(self, request, scope: ProofScope | None, context: dict, *, filename: str):
        """Without ``download``: the page with the count. With it: the stream, logged as an export."""
        output, problem = _output(request)
        if problem or context.get("problem") or scope is None:
            context["problem"] = context.get("problem") or problem
            status = 400 if context["problem"] else 200
            return TemplateResponse(request, "compliance/proof/proof.html", context, status=status)
        mask = should_mask(request.user, asked=request.GET.get("masked") == "1")
        if "download" not in request.GET:
            messages = proof_messages(scope)
            query = {key: value for key, value in request.GET.items() if key != "output"}
            context.update(
                count=messages.order_by().values("pk").count(),
                caused=messages.filter(caused__isnull=False).order_by().values("pk").count(),
                masked=mask,
                downloads=[
                    (name, f"?{urlencode({**query, 'output': name, 'download': '1'})}") for name in OUTPUTS
                ],
            )
            return TemplateResponse(request, "compliance/proof/proof.html", context)
        export = proof_export(scope=scope, actor=Actor.for_user(request.user), output=output, mask=mask)
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        # A CSV has no place for the anchor that covers it: the header carries it (docs/compliance.md).
        headers = {"X-Ledger-Anchor": export.anchor["digest"]} if export.anchor else None
        return streaming_response(
            export.chunks, output=output, filename=f"{filename}-{stamp}.{output}", headers=headers
        )


@admin.register(BackdatedOptOutReport)
class BackdatedOptOutReportAdmin(_ReportAdmin):
    def changelist_view(self, request, extra_context=None):
        """Every message sent after an opt-out recorded later but dated earlier, optionally in a period."""
        self._check(request)
        form = PeriodForm(request.GET or None)
        form.fields["purpose"].widget = forms.HiddenInput()
        since = until = None
        problem = ""
        if form.is_bound:
            if form.is_valid():
                try:
                    scope = form.scope()
                except ApplicationError as exc:
                    problem = exc.message
                else:
                    since, until = scope.since, scope.until
            else:
                problem = "Correct the period below."
        # Counted by the database and only the shown rows read: the page stays light however many match.
        count = 0 if problem else backdated_count(since=since, until=until)
        rows = [] if problem else list(backdated_rows(since=since, until=until, limit=BACKDATED_PAGE_ROWS))
        mask = should_mask(request.user, asked=False)
        if not problem:
            log_read(
                actor=Actor.for_user(request.user),
                report=BACKDATED_REPORT,
                filters={"since": since, "until": until},
                output="page",
                masked=mask,
                rows=count,
            )
        context = self._context(
            request,
            title="Messages sent after a back-dated opt-out",
            form=form,
            problem=problem,
            rows=[_masked_row(row) if mask else row for row in rows],
            count=count,
            shown=len(rows),
            masked=mask,
        )
        return TemplateResponse(
            request, "compliance/proof/backdated.html", context, status=400 if problem else 200
        )


def _masked_row(row: dict) -> dict:
    """The opt-out's evidence with its personal keys masked at any depth, as the exports mask it."""
    return {**row, "opt_out_evidence": masked_evidence(row["opt_out_evidence"])}
