"""The contact list's filters and paginator."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.utils.functional import cached_property

from contacts import selectors
from contacts.models import ConsentStatus, Contact, ContactList, Purpose, Segment
from contacts.segments.compiler import members_q
from contacts.segments.services import segment_q
from core.admin_tools import EstimatedCountPaginator
from core.errors import ApplicationError


class ConsentStateFilter(admin.SimpleListFilter):
    """Filter contacts by their current consent for one purpose (indexed on purpose, status)."""

    purpose: str

    def lookups(self, request, model_admin):
        return [*ConsentStatus.choices, ("none", "No consent recorded")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "none":
            return selectors.contacts_by_consent(queryset, purpose=self.purpose, status=None)
        if value in ConsentStatus.values:
            return selectors.contacts_by_consent(queryset, purpose=self.purpose, status=value)
        return queryset


class MarketingConsentFilter(ConsentStateFilter):
    title = "marketing consent"
    parameter_name = "marketing"
    purpose = Purpose.MARKETING


class ServiceConsentFilter(ConsentStateFilter):
    title = "service consent"
    parameter_name = "service"
    purpose = Purpose.SERVICE


class CountryFilter(admin.SimpleListFilter):
    """The countries present, from the shared cache: a DISTINCT over every contact is too slow per page."""

    title = "country"
    parameter_name = "country"
    CACHE_KEY = "contacts:countries"

    def lookups(self, request, model_admin):
        countries = cache.get(self.CACHE_KEY)
        if countries is None:
            # order_by() first: the model's default ordering would otherwise join the DISTINCT and
            # return one row per contact.
            countries = sorted(
                c for c in Contact.objects.order_by().values_list("country", flat=True).distinct() if c
            )
            cache.set(self.CACHE_KEY, countries, 300)
        return [(c, c) for c in countries]

    def queryset(self, request, queryset):
        return queryset.filter(country=self.value()) if self.value() else queryset


class MergedFilter(admin.SimpleListFilter):
    """Merged-away rows are evidence, never audiences: hidden unless staff ask for them."""

    title = "merged"
    parameter_name = "merged"
    MERGED, ALL = "yes", "all"

    def lookups(self, request, model_admin):
        return [(self.MERGED, "Merged away"), (self.ALL, "All, merged away too")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not merged",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == self.MERGED:
            return queryset.filter(merged_into__isnull=False)
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(merged_into__isnull=True)


class ContactPaginator(EstimatedCountPaginator):
    """The default list hides merged-away rows with a WHERE of its own; it is still estimated.

    Merged-away rows are few, so the table's estimate stands for the list's count as well.
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        live_only = Contact.objects.filter(merged_into__isnull=True).query.where
        if query is not None and query.where == live_only:
            estimate = self._estimate(self.object_list)
            if estimate is not None and estimate >= settings.ADMIN_ESTIMATED_COUNT_THRESHOLD:
                return estimate
        return super().count


class _AudienceFilter(admin.SimpleListFilter):
    """Contacts who are members of an audience named by id in the URL (``?segment=3``, ``?list=4``).

    The segment's and the list's pages link here ("View N members"); the choices list the live
    ones, and an id that is not one of them still filters (an archived segment's link works).
    Only for those who may see segments (lists): membership is what they define.
    """

    model = None
    permission = ""

    def __init__(self, request, params, model, model_admin):
        self.allowed = request.user.has_perm(self.permission)
        super().__init__(request, params, model, model_admin)
        if self.value() is not None and not self.allowed:
            raise IncorrectLookupParameters(f"Filtering by {self.title} needs the right to view them.")

    def has_output(self):
        # Shown with no choices too while it filters (the link of an archived segment).
        return self.allowed and (bool(self.lookup_choices) or self.value() is not None)

    def lookups(self, request, model_admin):
        if not self.allowed:
            return []
        return self.choices_queryset().values_list("pk", "name")

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        try:
            audience = self.model.objects.get(pk=int(self.value()))
            return queryset.filter(self.members(audience))
        except (ValueError, self.model.DoesNotExist, ApplicationError) as exc:
            raise IncorrectLookupParameters(str(exc)) from exc


class SegmentFilter(_AudienceFilter):
    title = "segment"
    parameter_name = "segment"
    model = Segment
    permission = "contacts.view_segment"

    def choices_queryset(self):
        return Segment.objects.filter(archived=False)

    def members(self, segment):
        return segment_q(segment)


class ContactListFilter(_AudienceFilter):
    title = "static list"
    parameter_name = "list"
    model = ContactList
    permission = "contacts.view_contactlist"

    def choices_queryset(self):
        return ContactList.objects.all()

    def members(self, contact_list):
        return members_q({"op": "all", "rules": [{"kind": "in_list", "list": contact_list.pk}]})


def audience_title(request) -> str | None:
    """The contact list's title while it lists an audience's members ("Members of segment “VIP
    buyers”"), so a page reached from a segment's "View N members" says whose members these are.
    None when no audience filters it, or one the filters will refuse (their message says why)."""
    parts = []
    for audience in (SegmentFilter, ContactListFilter):
        value = request.GET.get(audience.parameter_name)
        if value is None or not request.user.has_perm(audience.permission):
            continue
        try:
            name = audience.model.objects.filter(pk=int(value)).values_list("name", flat=True).first()
        except ValueError:
            return None
        if name is None:
            return None
        parts.append(f"{audience.title} “{name}”")
    return "Members of " + " and ".join(parts) if parts else None
