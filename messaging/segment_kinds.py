"""Segment conditions about the messages we sent, registered with the contacts segment engine.

``contacts`` may not import ``messaging``, so the engine keeps a registry
(``contacts.segments.registry``) and ``MessagingConfig.ready`` adds these kinds to it: received a
message within N days, and four about one campaign — received it, read it, replied to it,
pressed one of its quick-reply buttons (docs/segments.md, "Conditions about campaigns").

Each compiles to one ``EXISTS`` over the campaign's messages to the contact, never a test send:
``campaign_id = X AND contact_id = contact.id AND NOT is_test`` is exactly the partial unique
index ``campaign_once_per_contact``, so a count over a million contacts probes one index. Replied
and pressed are the campaign results' own rule (``messaging.campaigns.replies``: a quoted answer,
or an unquoted one within the reply window before another campaign's message; never a consent
keyword or the opt-out button), so a segment of those who replied is the funnel's step. A merge
moves the merged row's messages to the survivor (``messaging.contact_merge``), the reply rule also
reads a row merged into the recipient, and the engine never selects a merged-away row.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from contacts.segments.registry import INT, REFERENCE, TEXT, ConditionKind, FieldSpec, RuleProblem, register
from messaging.campaign_models import Campaign
from messaging.campaigns.replies import pressed, replied
from messaging.models import MessageStatus, OutboundMessage
from templates_app.components import ButtonType, buttons_of
from templates_app.models import TemplateVersion

MAX_DAYS = 36500
# A message counts as received once WhatsApp reported it sent; delivered and read come after.
RECEIVED_STATUSES = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ)


# --- received a message within N days ---------------------------------------------------------------


def _compile_received_within(values, context) -> Q:
    since = context.now - timedelta(days=values["days"])
    messages = OutboundMessage.objects.filter(
        contact_id=OuterRef("pk"), status__in=RECEIVED_STATUSES, sent_at__gte=since
    )
    return Q(Exists(messages))


RECEIVED_MESSAGE_WITHIN_DAYS = ConditionKind(
    name="received_message_within_days",
    label="Received a message from us within N days",
    help="A message of ours was sent to the contact (sent, delivered or read) within the last N days.",
    fields=(FieldSpec("days", "Days", INT, min=1, max=MAX_DAYS),),
    compile=_compile_received_within,
    describe=lambda v: f"received a message from us within the last {v.get('days', '?')} days",
)


# --- about one campaign -------------------------------------------------------------------------------


def _started_campaigns():
    """The campaigns a rule may name: those that started sending (the most recent first).

    Before it starts nobody has received a campaign, so a rule about it selects nobody (and
    "did not read it", everybody); a campaign that never started may also still be deleted. Once
    it started, its messages protect the row, so the id a rule (or a frozen copy of one) names
    stays valid. Names need not be unique: the day it started tells two apart.
    """
    rows = Campaign.objects.filter(started_at__isnull=False).order_by("-started_at", "-pk")
    return [
        (pk, f"{name} (started {started:%Y-%m-%d})")
        for pk, name, started in rows.values_list("pk", "name", "started_at")
    ]


CAMPAIGN_FIELD = FieldSpec(
    "campaign",
    "Campaign",
    REFERENCE,
    choices=_started_campaigns,
    help="A campaign that has started sending.",
)


def _started_campaign(pk: int) -> Campaign:
    campaign = Campaign.objects.filter(pk=pk).only("name", "started_at", "frozen").first()
    if campaign is None:
        raise RuleProblem(f"There is no campaign #{pk}.", field="campaign")
    if campaign.started_at is None:
        raise RuleProblem(
            f"Campaign “{campaign.name}” has not started sending: nobody has received it yet. "
            "Pick a campaign that has.",
            field="campaign",
        )
    return campaign


def _check_started(values, context):
    _started_campaign(values["campaign"])
    return values


def _check_button(values, context):
    """The campaign must have quick-reply buttons, and a label given must be one of them (any
    language's), spelled as the template spells it: WhatsApp sends the label as it was shown. Its
    opt-out button is refused by name: a press of it is an opt-out, never counted as a press."""
    campaign = _started_campaign(values["campaign"])
    opt_outs = _opt_out_labels(campaign.frozen)
    labels = [label for label in _quick_reply_labels(campaign.frozen) if label.casefold() not in opt_outs]
    if not labels:
        raise RuleProblem(
            f"Campaign “{campaign.name}” has no quick-reply buttons other than an opt-out button "
            "(WhatsApp does not report presses of link or call buttons).",
            field="campaign",
        )
    wanted = values.get("button")
    if wanted is not None and wanted.casefold() in opt_outs:
        raise RuleProblem(
            f"“{wanted}” is the opt-out button of campaign “{campaign.name}”: pressing it is an "
            "opt-out, not a press. Select those people with a consent condition (opted out of the "
            "campaign's purpose).",
            field="button",
        )
    if wanted is not None:
        spelled = {label.casefold(): label for label in labels}.get(wanted.casefold())
        if spelled is None:
            raise RuleProblem(
                f"Campaign “{campaign.name}” has no quick-reply button “{wanted}”; its buttons are: "
                + ", ".join(f"“{label}”" for label in labels)
                + ".",
                field="button",
            )
        values["button"] = spelled
    return values


def _quick_reply_labels(frozen) -> list[str]:
    """The quick-reply labels of every language the campaign froze at approval, each once."""
    languages = (frozen or {}).get("languages") or {}
    labels = [
        button.get("text")
        for item in languages.values()
        for button in buttons_of((item or {}).get("components"))
        if button.get("type") == ButtonType.QUICK_REPLY and isinstance(button.get("text"), str)
    ]
    return list(dict.fromkeys(label for label in labels if label))


def _opt_out_labels(frozen) -> set[str]:
    """The opt-out button's label (casefolded) of each language the campaign froze: the button the
    approved version marks (``TemplateVersion.opt_out_button_index``)."""
    languages = [item or {} for item in ((frozen or {}).get("languages") or {}).values()]
    indexes = dict(
        TemplateVersion.objects.filter(
            pk__in=[item["version_id"] for item in languages if isinstance(item.get("version_id"), int)]
        ).values_list("pk", "opt_out_button_index")
    )
    labels = set()
    for item in languages:
        index = indexes.get(item.get("version_id"))
        buttons = buttons_of(item.get("components"))
        if index is not None and index < len(buttons) and isinstance(buttons[index].get("text"), str):
            labels.add(buttons[index]["text"].casefold())
    return labels


def _its_messages(values) -> QuerySet[OutboundMessage]:
    """The campaign's message to the contact being tested: never a test send."""
    return OutboundMessage.objects.filter(
        campaign_id=values["campaign"], contact_id=OuterRef("pk"), is_test=False
    )


def _compile_received(values, context) -> Q:
    return Q(Exists(_its_messages(values).filter(status__in=RECEIVED_STATUSES)))


def _compile_read(values, context) -> Q:
    # Statuses only move forward, so a message read is in "read" for good.
    return Q(Exists(_its_messages(values).filter(status=MessageStatus.READ)))


def _compile_replied(values, context) -> Q:
    # The funnel's rule (campaigns.replies), evaluated for the campaign's message to the contact.
    return Q(Exists(_its_messages(values).filter(replied())))


def _compile_pressed(values, context) -> Q:
    return Q(Exists(_its_messages(values).filter(pressed(values.get("button") or ""))))


def _campaign_named(values) -> str:
    """“Spring sale”, or #7 for a campaign not found (a malformed rule is read, never refused)."""
    pk = values.get("campaign")
    name = None
    if isinstance(pk, int) and not isinstance(pk, bool):
        name = Campaign.objects.filter(pk=pk).values_list("name", flat=True).first()
    return f"the campaign “{name}”" if name is not None else f"campaign #{pk}"


def _describe_pressed(values) -> str:
    button = values.get("button")
    which = f"the button “{button}”" if button else "a quick-reply button"
    return f"pressed {which} of {_campaign_named(values)}"


RECEIVED_CAMPAIGN = ConditionKind(
    name="received_campaign",
    label="Received a campaign",
    help="WhatsApp reported the campaign's message sent, delivered or read to the contact (test sends "
    "never count).",
    fields=(CAMPAIGN_FIELD,),
    check=_check_started,
    compile=_compile_received,
    describe=lambda v: f"received {_campaign_named(v)}",
)
READ_CAMPAIGN = ConditionKind(
    name="read_campaign",
    label="Read a campaign",
    help="WhatsApp reported the campaign's message read. People who turned read receipts off never "
    "count as having read it.",
    fields=(CAMPAIGN_FIELD,),
    check=_check_started,
    compile=_compile_read,
    describe=lambda v: f"read {_campaign_named(v)}",
)
REPLIED_CAMPAIGN = ConditionKind(
    name="replied_campaign",
    label="Replied to a campaign",
    help="The contact answered the campaign's message, as its results count Replied: a reply quoting "
    "it, a button press or a reaction, whenever it came; or a message quoting nothing of ours within "
    "CAMPAIGN_REPLY_ATTRIBUTION_HOURS after it was sent, before another campaign's message reached "
    "them. A STOP (or START) keyword and the opt-out button are opt-outs (opt-ins), not replies.",
    fields=(CAMPAIGN_FIELD,),
    check=_check_started,
    compile=_compile_replied,
    describe=lambda v: f"replied to {_campaign_named(v)}",
)
PRESSED_CAMPAIGN_BUTTON = ConditionKind(
    name="pressed_campaign_button",
    label="Pressed a button of a campaign",
    help="The contact pressed one of the campaign's quick-reply buttons, or the one named. WhatsApp "
    "does not report clicks on link (URL) buttons, so nobody matches for those; the opt-out button "
    "is an opt-out, not a press (a consent condition finds those people).",
    fields=(
        CAMPAIGN_FIELD,
        FieldSpec(
            "button",
            "Button",
            TEXT,
            required=False,
            help="Optional: the quick-reply button's label as the template shows it (any language). "
            "Empty: any of its quick-reply buttons.",
        ),
    ),
    check=_check_button,
    compile=_compile_pressed,
    describe=_describe_pressed,
)

KINDS = (
    RECEIVED_MESSAGE_WITHIN_DAYS,
    RECEIVED_CAMPAIGN,
    READ_CAMPAIGN,
    REPLIED_CAMPAIGN,
    PRESSED_CAMPAIGN_BUTTON,
)


def register_segment_kinds() -> None:
    for kind in KINDS:
        register(kind)
