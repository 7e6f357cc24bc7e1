"""``/api/v1/contacts/``: upsert by phone, read one, list changes since a time, bulk upsert.

Every write goes through ``api.contact_upsert`` (the contact matcher's identity rules), and every
contact a key creates is remembered for it (``api.known_contacts``): its replies and opt-outs are
called back to that key. A key without ``contacts:read`` that updates an existing contact gets
only ``{id, phone, created}`` back, not what the business knows about that person. Reading
needs ``contacts:read`` and reads the business's contacts, not only the key's own: the contact
list is the business's, and a CRM syncs it.
"""

from __future__ import annotations

from datetime import UTC

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from api.contact_upsert import contacts_upsert
from api.errors import flatten_errors
from api.schema import error_responses
from api.serializers.contacts import (
    BulkContactsRequestSerializer,
    BulkContactsSerializer,
    BulkResultSerializer,
    ContactPageSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    ContactWrittenSerializer,
    phone_number,
)
from contacts.matching import contact_matches
from contacts.models import Contact, CurrentConsent

READ, WRITE = "contacts:read", "contacts:write"
# A merged-away row points at its survivor; chains are short, this bounds a corrupt one.
MAX_MERGE_HOPS = 10


def contacts_for_output():
    """Contacts with what their public shape reads, in two queries for any number of them."""
    return Contact.objects.prefetch_related(Prefetch("consents", queryset=CurrentConsent.objects.all()))


def contact_output(contact_id: int) -> dict:
    return ContactSerializer(contacts_for_output().get(pk=contact_id)).data


class ContactsPage(CursorPagination):
    """Oldest change first, so a client that keeps the last ``updated_at`` it saw misses nothing."""

    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def decode_cursor(self, request):
        """DRF's cursor, refused with a 400 when it was changed (its position is only checked
        when the query runs, where a bad one would be a 500)."""
        refused = serializers.ValidationError(
            {"cursor": ["This cursor is not valid: follow the `next` link as it was given."]}
        )
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise refused from None
        if cursor is not None and cursor.position is not None and _moment_or_none(cursor.position) is None:
            raise refused
        return cursor


class ContactCollection(APIView):
    required_scopes = {"GET": READ, "POST": WRITE}

    @extend_schema(
        operation_id="contacts_list",
        summary="List contacts, oldest change first (cursor-paginated)",
        parameters=[
            OpenApiParameter("phone", str, description="Only the contact with this number (any form)."),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description="ISO 8601 with a UTC offset: contacts changed at or after it.",
            ),
            OpenApiParameter("cursor", str, description="The `next` link's cursor."),
            OpenApiParameter("page_size", int, description="Up to 500 (default 100)."),
        ],
        responses={200: ContactPageSerializer, **error_responses(400)},
    )
    def get(self, request):
        contacts = contacts_for_output().filter(merged_into__isnull=True)
        phone = request.query_params.get("phone")
        if phone is not None:
            try:
                number = phone_number(phone)
            except serializers.ValidationError as exc:
                raise serializers.ValidationError({"phone": exc.detail}) from exc
            contacts = contacts.filter(pk__in=[contact.pk for contact in contact_matches(phone=number)])
        since = request.query_params.get("updated_since")
        if since is not None:
            moment = _parse_moment(since)
            contacts = contacts.filter(updated_at__gte=moment)
        page = ContactsPage()
        rows = page.paginate_queryset(contacts, request, view=self)
        return page.get_paginated_response(ContactSerializer(rows, many=True).data)

    @extend_schema(
        operation_id="contacts_upsert",
        summary="Create or update a contact found by its phone",
        request=ContactWriteSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="ContactUpsertAnswer",
                serializers=[ContactSerializer, ContactWrittenSerializer],
                resource_type_field_name=None,
            ),
            201: ContactSerializer,
            **error_responses(400, 415, 422),
        },
        description="The same person is found by any form of the number (Brazil's ninth digit, "
        "Mexico's 1 after +52) and never gets a second row. 201 when created, 200 when updated; "
        "fields left out are left as they are. A key without contacts:read gets only "
        "`{id, phone, created}` for an existing contact.",
    )
    def post(self, request):
        data = ContactWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        [result] = contacts_upsert(key=request.auth, items=[(0, data.validated_data)])
        if result.status == "created":
            return Response(contact_output(result.contact.pk), status=status.HTTP_201_CREATED)
        if not request.auth.has_scope(READ):
            written = {"id": result.contact.pk, "phone": data.validated_data["phone"], "created": False}
            return Response(ContactWrittenSerializer(written).data)
        return Response(contact_output(result.contact.pk))


class ContactDetail(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="contacts_read",
        summary="A contact and its current consent per purpose",
        description="A contact merged into another answers with the one it was merged into.",
        parameters=[OpenApiParameter("contact_id", int, OpenApiParameter.PATH)],
        responses={200: ContactSerializer, **error_responses(404)},
    )
    def get(self, request, contact_id: str):
        if not (contact_id.isascii() and contact_id.isdigit()):
            raise NotFound(f"There is no contact “{contact_id}”: contact ids are whole numbers.")
        contact = get_object_or_404(Contact.objects.only("pk", "merged_into_id"), pk=int(contact_id))
        for _ in range(MAX_MERGE_HOPS):
            if contact.merged_into_id is None:
                break
            contact = Contact.objects.only("pk", "merged_into_id").get(pk=contact.merged_into_id)
        return Response(contact_output(contact.pk))


class ContactBulk(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="contacts_bulk_upsert",
        summary="Create or update up to 1,000 contacts, with a result per item",
        request=BulkContactsRequestSerializer,
        responses={200: BulkResultSerializer, **error_responses(400, 415)},
        description="Each item as in POST /contacts/. A bad item is reported with its index and "
        "field and does not stop the others; more than 1,000 items is a 400.",
    )
    def post(self, request):
        envelope = BulkContactsSerializer(data=request.data)
        envelope.is_valid(raise_exception=True)
        valid, results = [], {}
        checker = ContactWriteSerializer()  # one instance for every item: its fields are built once
        for index, item in enumerate(envelope.validated_data["contacts"]):
            try:
                valid.append((index, checker.run_validation(item)))
            except serializers.ValidationError as exc:
                results[index] = _item_error(index, exc.detail)
        for result in contacts_upsert(key=request.auth, items=valid) if valid else []:
            results[result.index] = {
                "index": result.index,
                "status": result.status,
                "id": result.contact.pk,
                "changed": result.changed,
            }
        ordered = [results[index] for index in sorted(results)]
        counts = {
            kind: sum(1 for r in ordered if r["status"] == kind) for kind in ("created", "updated", "error")
        }
        body = {"created": counts["created"], "updated": counts["updated"], "errors": counts["error"]}
        return Response({**body, "results": ordered})


def _item_error(index: int, errors) -> dict:
    fields = flatten_errors(errors if isinstance(errors, dict) else {"": errors})
    field, message = next(iter(fields.items()), ("", "The item is not valid."))
    error = {"code": "invalid", "message": f"{field}: {message}" if field else message}
    if field:
        error["field"] = field
    return {"index": index, "status": "error", "error": error}


def _moment_or_none(text: str):
    """An aware datetime in UTC from ISO 8601 text, or None. In UTC because PostgreSQL takes
    offsets only up to ±15:59 while ISO 8601 (and Python) allow ±23:59."""
    try:
        moment = parse_datetime(text.strip())
        return None if moment is None or is_naive(moment) else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # no such date, or out of range once in UTC
        return None


def _parse_moment(text: str):
    moment = _moment_or_none(text)
    if moment is None:
        raise serializers.ValidationError(
            {
                "updated_since": [
                    f"“{text}” is not a time in ISO 8601 with a UTC offset, e.g. 2026-12-01T08:00:00Z."
                ]
            }
        )
    return moment


urlpatterns = [
    path("contacts/", ContactCollection.as_view(), name="contacts"),
    path("contacts/bulk/", ContactBulk.as_view(), name="contacts-bulk"),
    # Any text, so that an id that is no number is the API's 404 (JSON), not the URL resolver's page.
    path("contacts/<str:contact_id>/", ContactDetail.as_view(), name="contact"),
]
