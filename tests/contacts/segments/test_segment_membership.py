"""Each kind of condition and each kind of group against hand-built contacts (the ``people`` fixture),
on SQLite and on PostgreSQL; the members are listed by hand. eve, merged into ana, is never one."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact, ContactList, ContactListMember
from contacts.segments.compiler import members_q
from contacts.segments.rules import validate_rules
from contacts.segments.services import segment_count, segment_create, segment_members
from core.actors import Actor
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def members(people, *rules, op="all"):
    cleaned = validate_rules({"op": op, "rules": list(rules)})
    return people.names(Contact.objects.filter(members_q(cleaned)))


def attr(key, operator, value=None):
    rule = {"kind": "attribute", "key": key, "operator": operator}
    if value is not None:
        rule["value"] = value
    return rule


CASES = [
    # tags: upper or lower case alike; a merged-away row's tag makes no member
    ({"kind": "tag", "tag": "vip"}, ["ana", "ben"]),
    ({"kind": "tag", "tag": "LAPSED"}, ["ben"]),
    # numbers compare as numbers; "many" under a number key is not set
    (attr("orders", "gt", 3), ["ana"]),
    (attr("orders", "gt", 2), ["ana", "ben"]),
    (attr("orders", "lt", "3"), ["ben"]),
    (attr("orders", "gte", 5), ["ana"]),
    (attr("orders", "lte", 2.5), ["ben"]),
    (attr("orders", "equals", "5"), ["ana"]),
    (attr("orders", "in", [2.5, 7]), ["ben"]),
    (attr("orders", "is_set"), ["ana", "ben"]),
    (attr("orders", "is_not_set"), ["cai", "dee"]),
    (attr("orders", "not_equals", 5), ["ben", "cai", "dee"]),
    # text: upper or lower case alike; "" is not set
    (attr("tier", "equals", "gold"), ["ana"]),
    (attr("tier", "contains", "ILV"), ["ben"]),
    (attr("tier", "in", ["GOLD", "bronze"]), ["ana"]),
    (attr("tier", "is_set"), ["ana", "ben"]),
    (attr("tier", "is_not_set"), ["cai", "dee"]),
    (attr("tier", "not_equals", "gold"), ["ben", "cai", "dee"]),
    # dates compare as dates; a malformed one is not set
    (attr("birthday", "gt", "1990-01-01"), ["ana"]),
    (attr("birthday", "lt", "1990-01-01"), ["ben"]),
    (attr("birthday", "lte", "1990-05-01"), ["ana", "ben"]),
    (attr("birthday", "equals", "1985-12-24"), ["ben"]),
    (attr("birthday", "in", ["1990-05-01"]), ["ana"]),
    (attr("birthday", "is_set"), ["ana", "ben"]),
    # yes/no: "yes" as text is not a boolean
    (attr("newsletter", "equals", True), ["ana"]),
    (attr("newsletter", "equals", "false"), ["ben"]),
    (attr("newsletter", "is_set"), ["ana", "ben"]),
    (attr("newsletter", "not_equals", True), ["ben", "cai", "dee"]),
    # language, country, time zone
    ({"kind": "language", "in": ["de", "es"]}, ["ana", "cai"]),
    ({"kind": "country", "in": ["GB", "BR"]}, ["ben", "dee"]),
    ({"kind": "time_zone", "in": ["Europe/Berlin"]}, ["ana"]),
    # created: after a day = from the next day on; before = before that day
    ({"kind": "created", "after": "2024-06-01"}, ["cai", "dee"]),
    ({"kind": "created", "before": "2024-06-01"}, ["ana"]),
    ({"kind": "created", "after": "2024-01-01", "before": "2024-06-02"}, ["ana", "ben"]),
    ({"kind": "created", "within_days": 10}, ["dee"]),
    # consent: current state, when it took effect, the deciding event's source
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in"}, ["ana"]),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_out"}, ["ben"]),
    ({"kind": "consent", "purpose": "marketing", "status": "none"}, ["cai", "dee"]),
    ({"kind": "consent", "purpose": "service", "status": "opted_in"}, ["dee"]),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in", "since": "2025-03-10"}, ["ana"]),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in", "since": "2025-03-11"}, []),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in", "before": "2025-03-11"}, ["ana"]),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_out", "before": "2025-02-01"}, []),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in", "source": "web_form"}, ["ana"]),
    ({"kind": "consent", "purpose": "marketing", "status": "opted_in", "source": "import"}, []),
    ({"kind": "consent", "purpose": "service", "status": "opted_in", "source": "import"}, ["dee"]),
    # wrote to us
    ({"kind": "wrote_within_days", "days": 7}, ["ana"]),
    ({"kind": "wrote_within_days", "days": 60}, ["ana", "ben"]),
]


@pytest.mark.parametrize("rule,expected", CASES, ids=[str(i) for i in range(len(CASES))])
def test_each_condition(people, rule, expected):
    assert members(people, rule) == expected


GROUPS = [
    ("any", [{"kind": "tag", "tag": "lapsed"}, {"kind": "country", "in": ["DE"]}], ["ana", "ben"]),
    ("none", [{"kind": "tag", "tag": "vip"}], ["cai", "dee"]),
    ("none", [{"kind": "tag", "tag": "vip"}, {"kind": "language", "in": ["pt_BR"]}], ["cai"]),
    # NOT over a condition that has no value for some contacts: they are not members of it, so
    # they are members of its negation (no SQL NULL swallows them).
    ("none", [attr("orders", "gt", 3)], ["ben", "cai", "dee"]),
    ("none", [attr("birthday", "lt", "2000-01-01")], ["cai", "dee"]),
    ("none", [{"kind": "wrote_within_days", "days": 7}], ["ben", "cai", "dee"]),
    ("all", [{"kind": "tag", "tag": "vip"}, {"op": "none", "rules": [attr("orders", "gt", 3)]}], ["ben"]),
    (
        "any",
        [
            {
                "op": "all",
                "rules": [
                    {"kind": "tag", "tag": "vip"},
                    {"kind": "consent", "purpose": "marketing", "status": "opted_in"},
                ],
            },
            {"op": "none", "rules": [{"kind": "language", "in": ["de", "en", "es"]}]},
        ],
        ["ana", "dee"],
    ),
    (
        "all",
        [
            {
                "op": "any",
                "rules": [
                    {"op": "none", "rules": [{"kind": "tag", "tag": "vip"}]},
                    attr("tier", "equals", "GOLD"),
                ],
            }
        ],
        ["ana", "cai", "dee"],
    ),
]


@pytest.mark.parametrize("op,rules,expected", GROUPS, ids=[str(i) for i in range(len(GROUPS))])
def test_groups_nest(people, op, rules, expected):
    assert members(people, *rules, op=op) == expected


def test_a_static_list_counts_a_merged_away_member_as_its_survivor(people):
    listed = ContactList.objects.create(name="Fair visitors", size=2)
    ContactListMember.objects.bulk_create(
        [
            ContactListMember(contact_list=listed, contact=people.ben),
            ContactListMember(contact_list=listed, contact=people.eve),
        ]
    )
    assert members(people, {"kind": "in_list", "list": listed.pk}) == ["ana", "ben"]
    assert members(people, {"kind": "in_list", "list": listed.pk}, op="none") == ["cai", "dee"]


def test_member_of_another_segment_uses_its_current_rules(people):
    vips = segment_create(
        name="VIPs", rules={"op": "all", "rules": [{"kind": "tag", "tag": "vip"}]}, actor=SYSTEM
    )
    rule = {"kind": "in_segment", "segment": vips.pk}
    assert members(people, rule) == ["ana", "ben"]
    from contacts.segments.services import segment_update

    segment_update(
        segment=vips, rules={"op": "all", "rules": [{"kind": "tag", "tag": "lapsed"}]}, actor=SYSTEM
    )
    assert members(people, rule) == ["ben"]
    assert members(people, rule, op="none") == ["ana", "cai", "dee"]


def test_merged_away_contacts_are_never_members(people):
    # eve matches every one of these and is still not a member.
    for rule in (
        {"kind": "tag", "tag": "vip"},
        attr("orders", "gt", 8),
        {"kind": "created", "within_days": 2},
    ):
        assert "eve" not in members(people, rule)
    assert members(people, attr("orders", "gt", 8)) == []


def _every_kind_segment(people):
    """A segment whose tree uses every kind of condition and every kind of group, nested."""
    listed = ContactList.objects.create(name="Both", size=2)
    ContactListMember.objects.bulk_create(
        [ContactListMember(contact_list=listed, contact=c) for c in (people.ana, people.ben)]
    )
    inner = segment_create(
        name="Inner",
        rules={"op": "any", "rules": [{"kind": "tag", "tag": "vip"}, attr("newsletter", "is_set")]},
        actor=SYSTEM,
    )
    staff_opt_out = {"kind": "consent", "purpose": "marketing", "status": "opted_out", "source": "staff"}
    recent_service = {"kind": "consent", "purpose": "service", "status": "opted_in", "since": "2020-01-01"}
    rules = {
        "op": "all",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            attr("orders", "gt", 1),
            attr("tier", "is_set"),
            {
                "op": "any",
                "rules": [
                    {
                        "op": "all",
                        "rules": [
                            {"kind": "language", "in": ["de", "en"]},
                            {"kind": "country", "in": ["DE", "GB"]},
                            {"kind": "time_zone", "in": ["Europe/Berlin", "Europe/London"]},
                            {"kind": "created", "before": "2030-01-01"},
                            {"kind": "wrote_within_days", "days": 60},
                        ],
                    },
                    {"op": "none", "rules": [staff_opt_out]},
                    {"kind": "received_message_within_days", "days": 30},
                ],
            },
            {"kind": "in_segment", "segment": inner.pk},
            {"kind": "in_list", "list": listed.pk},
            {"op": "none", "rules": [{"kind": "tag", "tag": "lapsed"}, recent_service]},
        ],
    }
    return segment_create(name="Every kind", rules=rules, actor=SYSTEM)


def test_a_tree_of_every_kind_is_one_query(people):
    segment = _every_kind_segment(people)
    # Compiling reads the custom fields' types and the included segment's rules, once each.
    with CaptureQueriesContext(connection) as compiling:
        queryset = segment_members(segment)
    assert len(compiling.captured_queries) <= 2
    with CaptureQueriesContext(connection) as counting:
        assert queryset.count() == 1
    assert len(counting.captured_queries) == 1
    with CaptureQueriesContext(connection) as listing:
        assert people.names(queryset) == ["ana"]
    assert len(listing.captured_queries) == 1
    sql = listing.captured_queries[0]["sql"]
    assert "DISTINCT" not in sql.upper() and " JOIN " not in sql.split("WHERE")[0].upper()


def test_a_segment_without_references_counts_in_one_query(people):
    segment = segment_create(
        name="Marketing VIPs",
        rules={
            "op": "all",
            "rules": [
                {"kind": "tag", "tag": "vip"},
                {"kind": "consent", "purpose": "marketing", "status": "opted_in"},
                {"op": "none", "rules": [{"kind": "country", "in": ["GB"]}]},
            ],
        },
        actor=SYSTEM,
    )
    with CaptureQueriesContext(connection) as captured:
        assert segment_count(segment) == 1
    assert len(captured.captured_queries) == 1


@pytest.mark.parametrize(
    "rule", [attr("orders", "gt", 0), attr("orders", "lt", 10**9), attr("orders", "in", [5])]
)
def test_values_of_another_type_neither_match_nor_break_the_query(people, rule):
    odd = [[5], True, {"n": 5}, "5", None, "", 1e300]
    for value in odd:
        ContactFactory(first_name=f"odd {value!r}", attributes={"orders": value})
    found = members(people, rule)
    assert not [name for name in found if name.startswith("odd") and name != "odd 1e+300"]
    assert ("odd 1e+300" in found) == (rule["operator"] == "gt")
    assert "odd [5]" in members(people, attr("orders", "is_not_set"))
