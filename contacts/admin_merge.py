"""Merging two contacts from the admin: the action, and the confirmation page that shows what happens.

A mixin of ``ContactAdmin``; the merge itself is ``contacts.merging.contact_merge`` (docs/contacts.md).
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from contacts.forms import ContactMergeForm
from contacts.merging import contact_merge, contact_merge_preview, survivor_of
from contacts.models import Contact
from core.actors import Actor
from core.errors import ApplicationError


class ContactMergeMixin:
    def has_merge_permission(self, request):
        return request.user.has_perm("contacts.merge_contact")

    def get_urls(self):
        return [
            path(
                "merge/<int:first_id>/<int:second_id>/",
                self.admin_site.admin_view(self.merge_view),
                name="contacts_contact_merge",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Merge two contacts", permissions=["merge"])
    def merge_contacts(self, request, queryset):
        selected = list(queryset.order_by("created_at", "pk")[:3])
        if len(selected) != 2:
            count = queryset.count()
            self.message_user(
                request, f"Select exactly two contacts to merge (you selected {count}).", messages.ERROR
            )
            return None
        for contact in selected:
            if contact.merged_into_id is not None:
                self.message_user(
                    request,
                    f"{contact} (#{contact.pk}) was already merged into contact #{contact.merged_into_id}; "
                    "merge that contact instead.",
                    messages.ERROR,
                )
                return None
        return HttpResponseRedirect(reverse("admin:contacts_contact_merge", args=[c.pk for c in selected]))

    def merge_view(self, request, first_id, second_id):
        """The confirmation page: both contacts, what survives, consent before and after, what moves."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        changelist = reverse("admin:contacts_contact_changelist")
        if first_id == second_id:
            return self._merge_refused(request, "A contact cannot be merged into itself.", changelist)
        found = {c.pk: c for c in Contact.objects.filter(pk__in=[first_id, second_id])}
        missing = [pk for pk in (first_id, second_id) if pk not in found]
        if missing:
            return self._merge_refused(request, f"Contact #{missing[0]} does not exist.", changelist)
        pair = [found[first_id], found[second_id]]
        here = reverse("admin:contacts_contact_merge", args=[first_id, second_id])
        chosen = request.POST.get("survivor") if request.method == "POST" else request.GET.get("survivor")
        if chosen is None:
            survivor = survivor_of(pair)
        else:
            survivor = next((c for c in pair if str(c.pk) == str(chosen).strip()), None)
            if survivor is None:
                message = f"The contact to keep must be one of the two (#{first_id} or #{second_id})."
                return self._merge_refused(request, message, here)
        merged = pair[1] if survivor is pair[0] else pair[0]
        try:
            preview = contact_merge_preview(survivor=survivor, merged=merged)
        except ApplicationError as exc:
            return self._merge_refused(request, exc.message, changelist)
        form = ContactMergeForm(request.POST or None, initial={"survivor": survivor.pk})
        if request.method == "POST" and form.is_valid():
            try:
                contact_merge(
                    survivor=survivor,
                    merged=merged,
                    actor=Actor.for_user(request.user),
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                self.message_user(
                    request,
                    f"{merged} (#{merged.pk}) was merged into {survivor} (#{survivor.pk}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:contacts_contact_change", args=[survivor.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Merge two contacts",
            "preview": preview,
            "form": form,
            "here": here,
            "rows": _merge_rows(preview),
        }
        return TemplateResponse(request, "admin/contacts/contact/merge.html", context)

    def _merge_refused(self, request, message, to):
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(to)


def _merge_rows(preview):
    """The side-by-side table of the confirmation page: (label, survivor's value, merged row's value)."""
    survivor, merged = preview.survivor, preview.merged
    rows = [
        (label, getattr(survivor, name) or "—", getattr(merged, name) or "—")
        for name, label in (
            ("phone", "Phone"),
            ("wa_id", "WhatsApp id"),
            ("user_id", "Business-scoped user id"),
            ("full_name", "Name"),
            ("whatsapp_profile_name", "WhatsApp profile name"),
            ("language", "Language"),
            ("country", "Country"),
            ("created_at", "Created"),
            ("last_inbound_at", "Last message from them"),
        )
    ]
    rows.append(
        (
            "Tags",
            ", ".join(t.name for t in survivor.tags.all()) or "—",
            ", ".join(t.name for t in merged.tags.all()) or "—",
        )
    )
    return rows
