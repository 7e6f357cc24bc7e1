"""The rule tree in plain language, as Approvers and Auditors read it (``describe_rules``)."""

import pytest
from django.urls import reverse

from contacts.models import ContactList
from contacts.segments.describe import describe_rules
from contacts.segments.services import segment_create
from core.actors import Actor
from tests.factories import TagFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_tree_reads_as_indented_lines():
    TagFactory(name="VIP")
    buyers = segment_create(
        name="Buyers", rules={"op": "all", "rules": [{"kind": "tag", "tag": "VIP"}]}, actor=Actor.system("t")
    )
    clients = ContactList.objects.create(name="Fair 2026", size=0)
    tree = {
        "op": "all",
        "rules": [
            {"kind": "tag", "tag": "VIP"},
            {"kind": "consent", "purpose": "marketing", "status": "opted_in"},
            {"kind": "attribute", "key": "orders", "operator": "gt", "value": 3},
            {"kind": "in_segment", "segment": buyers.pk},
            {
                "op": "any",
                "rules": [
                    {"kind": "in_list", "list": clients.pk},
                    {"kind": "language", "in": ["de", "pt_BR"]},
                    {"kind": "attribute", "key": "tier", "operator": "is_set"},
                    {"op": "none", "rules": [{"kind": "consent", "purpose": "service", "status": "none"}]},
                ],
            },
            {"kind": "created", "after": "2025-01-01", "before": "2025-06-30"},
            {"kind": "wrote_within_days", "days": 30},
            {"kind": "in_segment", "segment": 999999},
        ],
    }
    assert describe_rules(tree) == [
        "All of:",
        "    • has tag “VIP”",
        "    • marketing consent: opted in",
        "    • custom field “orders” greater than 3",
        "    • member of segment “Buyers”",
        "    • Any of:",
        "        • in static list “Fair 2026”",
        "        • language is one of German (de), Portuguese (Brazil) (pt_BR)",
        "        • custom field “tier” is set",
        "        • None of:",
        "            • service consent: none recorded",
        "    • created after 2025-01-01 and before 2025-06-30",
        "    • wrote to us within the last 30 days",
        "    • member of segment #999999",  # gone since: its id
    ]


def test_what_no_kind_reads_is_named_not_an_error():
    tree = {"op": "any", "rules": [{"kind": "gone"}, {"kind": "tag"}, {"op": "all", "rules": []}, "x"]}
    assert describe_rules(tree) == [
        "Any of:",
        "    • unknown condition “gone”",
        "    • has tag “”",
        "    • All of: (no rules)",
        "    • unknown condition",
    ]


@pytest.mark.parametrize("role", ["Editor", "Approver"])
def test_who_made_a_version_links_only_for_who_may_view_users(client_for, role, admin_client):
    TagFactory(name="vip")
    author = UserFactory(role="Editor", username="writer")
    segment = segment_create(
        name="VIPs",
        rules={"op": "all", "rules": [{"kind": "tag", "tag": "vip"}]},
        actor=Actor.for_user(author),
    )
    user_url = reverse("admin:auth_user_change", args=[author.pk]).encode()
    page = client_for(UserFactory(role=role)).get(reverse("admin:contacts_segment_change", args=[segment.pk]))
    assert page.status_code == 200
    assert b"writer" in page.content and user_url not in page.content
    page = admin_client.get(reverse("admin:contacts_segment_change", args=[segment.pk]))
    assert user_url in page.content
