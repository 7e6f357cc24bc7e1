"""The admin's side of a campaign that paused itself: dismissing its banner (``campaigns.notices``).

The banner itself is on every admin page (``templates/admin/base_site.html``, fed by
``messaging.context_processors.campaign_self_pauses``); its Dismiss button posts here.
"""

from django.contrib import messages
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.actors import Actor
from core.errors import ApplicationError
from messaging.campaign_models import Campaign
from messaging.campaigns.notices import campaign_notice_dismiss


class CampaignNoticesMixin:
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:campaign_id>/notice/<int:transition_id>/dismiss/",
                view(self.notice_dismiss_view),
                name="messaging_campaign_notice_dismiss",
            ),
            *super().get_urls(),
        ]

    def notice_dismiss_view(self, request, campaign_id, transition_id):
        """POST: the banner about this self-pause goes for the user who dismisses it, and only for them."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        try:
            campaign_notice_dismiss(
                campaign=campaign, transition_id=transition_id, actor=Actor.for_user(request.user)
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse("admin:messaging_campaign_change", args=[campaign.pk])
        return HttpResponseRedirect(back)
