"""``/messages/``: queue one message through ``send_message``; read the messages this key sent.

The same rules as the admin's send hold, because it is the same service: consent for the
template's purpose, free text only inside the open window, approved templates with parameters
that fit. A key reads only its own messages (``actor_kind="api_key"``, ``actor_ref`` = its id):
another key's message is 404, so a key cannot even learn that an id exists.
"""

from __future__ import annotations

import uuid

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ApiError
from api.idempotency import HEADER, idempotent, work_key
from api.models import ApiKey, Scope
from api.paging import NewestFirst
from api.recipients import contact_by_phone, live_contact
from api.refusals import refusal_for_api
from api.schema import error_responses
from api.serializers.messages import MessageDetailOut, MessageIn, MessageOut, MessagePageOut
from contacts.models import Contact
from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaigns.languages import language_for
from messaging.models import OutboundMessage
from messaging.sending.halt import active_halt
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate, TemplateStatus
from templates_app.sending import sendability

_UNPROCESSABLE = status.HTTP_422_UNPROCESSABLE_ENTITY


def sent_by(key: ApiKey):
    """The messages ``key`` queued, and no others."""
    return OutboundMessage.objects.filter(actor_kind=Actor.API_KEY, actor_ref=str(key.pk))


class MessagesView(APIView):
    required_scopes = {"GET": Scope.MESSAGES_READ, "POST": Scope.MESSAGES_SEND}

    @extend_schema(
        operation_id="v1_messages_list",
        parameters=[
            OpenApiParameter("contact", OpenApiTypes.INT, description="Only the messages to this contact."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` or `previous` link."),
            OpenApiParameter(
                "page_size", OpenApiTypes.INT, description="Messages per page: 50, at most 200."
            ),
        ],
        responses={200: MessagePageOut, **error_responses(400)},
    )
    def get(self, request):
        messages = sent_by(request.auth).select_related("contact", "template_version__template")
        contact_id = request.query_params.get("contact")
        if contact_id is not None:
            if not (contact_id.isascii() and contact_id.isdigit()) or len(contact_id) > 18:
                raise ApiError(
                    f"contact: “{contact_id}” is not a contact id (a number).",
                    code="invalid",
                    status_code=status.HTTP_400_BAD_REQUEST,
                    field="contact",
                )
            # A merge re-points the merged-away row's messages to the contact it went into.
            contact = live_contact(int(contact_id))
            messages = messages.filter(contact_id=contact.pk if contact else int(contact_id))
        paginator = NewestFirst()
        page = paginator.paginate_queryset(messages, request, view=self)
        body = MessageOut(page, many=True, context={"halt": active_halt()}).data
        return paginator.get_paginated_response(body)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description="See docs/api-messages.md."
            )
        ],
        request=MessageIn,
        responses={202: MessageOut, **error_responses(400, 409, 415, 422)},
    )
    @idempotent
    def post(self, request):
        given = MessageIn(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        contact = _recipient(data)
        template = _template(data["template"], contact) if "template" in data else None
        parameters = data["template"].get("parameters") if template is not None else None
        try:
            message = send_message(
                contact=contact,
                actor=request.auth.actor,
                template=template,
                parameters=parameters,
                text=data.get("text"),
                idempotency_key=work_key(request, "message") or None,
            )
        except ApplicationError as error:
            if error.code == "template_parameters_invalid":
                # Every problem, each naming its parameter ("The value for {{2}} is missing.").
                error.field = "template.parameters"
                error.details = {"problems": list(sendability(template, parameters).problems)}
            raise refusal_for_api(error, contact) from None
        version = message.template_version
        if version is not None and template is not None and version.template_id == template.pk:
            version.template = template  # the answer names it: known already, not read again
        body = MessageOut(message, context={"halt": active_halt()}).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MessageDetailView(APIView):
    required_scopes = {"GET": Scope.MESSAGES_READ}

    @extend_schema(
        parameters=[OpenApiParameter("public_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: MessageDetailOut, **error_responses(404)},
    )
    def get(self, request, public_id: str):
        message = None
        try:
            wanted = uuid.UUID(public_id)
        except ValueError:
            wanted = None
        if wanted is not None:
            message = (
                sent_by(request.auth)
                .select_related("contact", "template_version__template")
                .prefetch_related("attempts")
                .filter(public_id=wanted)
                .first()
            )
        if message is None:
            raise ApiError(
                f"This key sent no message {public_id}.",
                code="not_found",
                status_code=status.HTTP_404_NOT_FOUND,
            )
        return Response(MessageDetailOut(message, context={"halt": active_halt()}).data)


def _recipient(data: dict) -> Contact:
    if "phone" in data:
        return contact_by_phone(data["phone"])
    contact = Contact.objects.filter(pk=data["contact"]).first()
    if contact is None:
        raise ApiError(
            f"There is no contact {data['contact']}.",
            code="contact_not_found",
            status_code=_UNPROCESSABLE,
            field="contact",
        )
    if contact.merged_into_id is not None:
        survivor = live_contact(contact.pk)
        raise ApiError(
            f"Contact {contact.pk} was merged into contact {survivor.pk}, who stands for this person "
            "now: send to that contact.",
            code="contact_merged",
            status_code=_UNPROCESSABLE,
            field="contact",
            details={"merged_into": survivor.pk},
        )
    return contact


def _template(ref: dict, contact: Contact) -> MessageTemplate:
    """The template row to send: the language asked for, else the contact's (its base language or
    another region of it, as a campaign picks: ``en_GB`` gets ``en`` or ``en_US``)."""
    name = ref["name"]
    rows = {row.language: row for row in MessageTemplate.objects.filter(name=name)}
    if not rows:
        raise ApiError(
            f"There is no template “{name}”.",
            code="template_not_found",
            status_code=_UNPROCESSABLE,
            field="template.name",
        )
    approved = sorted(
        code
        for code, row in rows.items()
        if row.status == TemplateStatus.APPROVED and row.approved_version_id is not None
    )
    language = ref.get("language")
    if language is None:
        if not approved:
            raise ApiError(
                f"The template “{name}” has no approved language: only templates WhatsApp approved can "
                "be sent.",
                code="template_not_sendable",
                status_code=_UNPROCESSABLE,
                field="template.name",
            )
        language = language_for(approved, "", contact.language)
        if not language:
            raise ApiError(
                f"Contact {contact.pk}'s language ({contact.language or 'not set'}) has no approved "
                f"translation of “{name}”; give template.language, one of: {', '.join(approved)}.",
                code="template_language_required",
                status_code=_UNPROCESSABLE,
                field="template.language",
                details={"approved_languages": approved},
            )
    if language not in rows:
        raise ApiError(
            f"The template “{name}” has no {language} translation; approved ones: "
            f"{', '.join(approved) or 'none'}.",
            code="template_not_found",
            status_code=_UNPROCESSABLE,
            field="template.language",
            details={"approved_languages": approved},
        )
    return rows[language]


urlpatterns = [
    path("messages/", MessagesView.as_view(), name="messages"),
    path("messages/<str:public_id>/", MessageDetailView.as_view(), name="message-detail"),
]
