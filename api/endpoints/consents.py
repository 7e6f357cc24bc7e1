"""``/contacts/{id}/consents/``: record an opt-in or opt-out another system collected; read the history.

Recorded through ``contacts.services.record_consent`` with the key as the actor, so the ledger,
its chain, current consent and the opting-back-in rule are the admin's. A merged-away contact's id
records on the contact it was merged into (as ``record_consent`` does) — an opt-out sent with an
old id is never lost — and the answer names that contact; its history is the survivor's, which
holds the merged-away row's events as ``merge`` copies.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import ApiError
from api.idempotency import HEADER, idempotent, work_key
from api.known_contacts import remember_contacts
from api.models import Scope
from api.paging import NewestFirst
from api.recipients import contact_id_from_path, live_contact
from api.refusals import refusal_for_api
from api.schema import error_responses
from api.serializers.consents import API_SOURCES, ConsentEventOut, ConsentHistoryOut, ConsentIn
from contacts.models import ConsentEvent, ConsentSource, ConsentWording, Contact, Purpose
from contacts.services import record_consent
from core.errors import ApplicationError

PAGE_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` or `previous` link."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Events per page: 50, at most 200."),
]
CONTACT_ID = OpenApiParameter("contact_id", OpenApiTypes.INT, OpenApiParameter.PATH)
IDEMPOTENCY = OpenApiParameter(
    HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, description="Optional; see docs/api-messages.md."
)


class ContactConsentsView(APIView):
    required_scopes = {"GET": Scope.CONTACTS_READ, "POST": Scope.CONSENT_WRITE}

    @extend_schema(
        parameters=[
            CONTACT_ID,
            OpenApiParameter("purpose", OpenApiTypes.STR, enum=Purpose.values),
            *PAGE_PARAMETERS,
        ],
        responses={200: ConsentHistoryOut, **error_responses(400, 404)},
    )
    def get(self, request, contact_id: str):
        contact = _survivor(contact_id)
        events = ConsentEvent.objects.filter(contact=contact).select_related("wording")
        purpose = request.query_params.get("purpose")
        if purpose is not None:
            if purpose not in Purpose.values:
                raise _invalid("purpose", f"Use one of: {', '.join(Purpose.values)}.")
            events = events.filter(purpose=purpose)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(events, request, view=self)
        body = ConsentEventOut(page, many=True, context={"key": request.auth}).data
        response = paginator.get_paginated_response(body)
        response.data = {"contact": contact.pk, **response.data}
        return response

    @extend_schema(
        parameters=[CONTACT_ID, IDEMPOTENCY],
        request=ConsentIn,
        responses={201: ConsentEventOut, **error_responses(400, 404, 409, 415, 422)},
    )
    @idempotent
    def post(self, request, contact_id: str):
        contact = _survivor(contact_id)
        given = ConsentIn(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        if data["source"] not in API_SOURCES:
            raise ApiError(
                _source_refusal(data["source"]),
                code="source_not_allowed",
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                field="source",
                details={"allowed": list(API_SOURCES)},
            )
        wording = None
        if "wording_id" in data:
            wording = ConsentWording.objects.filter(pk=data["wording_id"]).first()
            if wording is None:
                raise ApiError(
                    f"There is no consent wording {data['wording_id']}.",
                    code="wording_not_found",
                    status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    field="wording_id",
                )
        try:
            event = self._record(request, contact, data, wording)
        except ApplicationError as error:
            raise refusal_for_api(error, contact) from None
        event = ConsentEvent.objects.select_related("wording").get(pk=event.pk)
        return Response(
            ConsentEventOut(event, context={"key": request.auth}).data, status=status.HTTP_201_CREATED
        )

    @staticmethod
    def _record(request, contact: Contact, data: dict, wording: ConsentWording | None) -> ConsentEvent:
        """The event and the key's knowledge of the contact: both, or neither."""
        key = request.auth
        with transaction.atomic():
            event = record_consent(
                contact=contact,
                purpose=data["purpose"],
                action=data["action"],
                source=data["source"],
                actor=key.actor,
                occurred_at=data.get("occurred_at"),
                wording=wording,
                wording_text=data.get("wording_text", ""),
                evidence=data.get("evidence"),
                signal_key=work_key(request, "consent"),
            )
            remember_contacts(key, [event.contact_id])
        return event


def _survivor(contact_id: str) -> Contact:
    """The contact that stands for the person now (followed through merges), or a 404."""
    contact = live_contact(contact_id_from_path(contact_id))
    if contact is None:
        raise ApiError(
            f"There is no contact {contact_id}.", code="not_found", status_code=status.HTTP_404_NOT_FOUND
        )
    return contact


def _source_refusal(source: str) -> str:
    allowed = ", ".join(API_SOURCES)
    if source in ConsentSource.values:
        label = ConsentSource(source).label
        return (
            f"The source “{source}” ({label}) is not one an API client records: it belongs to another "
            f"path (WhatsApp's own signals, staff, imports, merges, opt-in links). Use one of: {allowed}."
        )
    return f"“{source}” is not a consent source. Use one of: {allowed}."


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        f"{field}: {message}", code="invalid", status_code=status.HTTP_400_BAD_REQUEST, field=field
    )


urlpatterns = [
    path("contacts/<str:contact_id>/consents/", ContactConsentsView.as_view(), name="contact-consents"),
]
