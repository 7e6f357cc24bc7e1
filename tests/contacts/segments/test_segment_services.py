"""Saving segments: versions only when the rules change, the activity log, names, archiving."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.models import ActivityLogEntry, AttributeDefinition, Segment, SegmentVersion
from contacts.segments.rules import RuleError
from contacts.segments.services import (
    rules_count,
    segment_count,
    segment_create,
    segment_members,
    segment_rules_resolved,
    segment_update,
    segments_using_attribute,
)
from core.actors import Actor
from core.errors import ApplicationError
from core.models import AppendOnlyError
from tests.factories import ContactFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
VIP = {"op": "all", "rules": [{"kind": "tag", "tag": "vip"}]}
LAPSED = {"op": "all", "rules": [{"kind": "tag", "tag": "lapsed"}]}


@pytest.fixture
def actor(db):
    return Actor.for_user(UserFactory(username="erin", role="Editor"))


@pytest.fixture(autouse=True)
def tagged(db):
    vip, lapsed = TagFactory(name="vip"), TagFactory(name="lapsed")
    ContactFactory().tags.add(vip)
    ContactFactory().tags.add(vip, lapsed)


def log(action):
    return list(ActivityLogEntry.objects.filter(action=action).order_by("id"))


def test_create_writes_version_one_and_logs(actor):
    segment = segment_create(name=" VIPs ", description="Best customers", rules=VIP, actor=actor)
    assert (segment.name, segment.version, segment.rules, segment.created_by) == ("VIPs", 1, VIP, actor.user)
    (version,) = segment.versions.all()
    assert (version.version, version.rules, version.created_by) == (1, VIP, actor.user)
    (entry,) = log("segment.created")
    assert entry.object_id == str(segment.pk) and entry.actor_user == actor.user


def test_a_new_version_only_when_the_rules_change(actor):
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    segment_update(segment=segment, name="Our VIPs", description="Renamed", actor=actor)
    # The same rules typed differently are the same rules.
    segment_update(
        segment=segment, rules={"op": "all", "rules": [{"kind": "tag", "tag": " vip "}]}, actor=actor
    )
    assert segment.version == 1 and segment.versions.count() == 1
    segment_update(segment=segment, rules=LAPSED, actor=actor)
    assert segment.version == 2 and segment.rules == LAPSED
    assert list(segment.versions.values_list("version", "rules")) == [(2, LAPSED), (1, VIP)]
    changes = [(e.details["changed"], e.details["version"]) for e in log("segment.changed")]
    assert changes == [(["name", "description"], 1), (["rules"], 2)]


def test_nothing_changed_writes_nothing(actor):
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    segment_update(segment=segment, name="VIPs", description="", rules=VIP, archived=False, actor=actor)
    assert log("segment.changed") == [] and segment.versions.count() == 1


def test_a_frozen_version_keeps_its_members(actor):
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    frozen = segment.versions.get()
    segment_update(segment=segment, rules=LAPSED, actor=actor)
    assert segment_count(frozen) == 2
    assert segment_count(segment) == 1
    assert segment_members(Segment.objects.get(pk=segment.pk)).count() == 1


def test_the_resolved_rules_do_not_move_when_an_included_segment_is_edited(actor):
    vips = segment_create(name="VIPs", rules=VIP, actor=actor)
    outer = segment_create(
        name="VIPs, not lapsed",
        rules={"op": "none", "rules": [{"kind": "in_segment", "segment": vips.pk}, LAPSED]},
        actor=actor,
    )
    resolved = segment_rules_resolved(outer)
    assert resolved == {"op": "none", "rules": [VIP, LAPSED]}
    frozen = Segment(name="frozen", rules=resolved)
    before = set(segment_members(frozen).values_list("pk", flat=True))
    segment_update(segment=vips, rules=LAPSED, actor=actor)
    assert set(segment_members(frozen).values_list("pk", flat=True)) == before
    assert segment_rules_resolved(outer) == {"op": "none", "rules": [LAPSED, LAPSED]}


def test_resolving_a_reference_to_a_missing_segment_is_refused(actor):
    outer = Segment(
        pk=10_000, name="broken", rules={"op": "all", "rules": [{"kind": "in_segment", "segment": 9}]}
    )
    with pytest.raises(ApplicationError, match="does not exist"):
        segment_rules_resolved(outer)


@pytest.mark.parametrize(
    "name,says",
    [("", "Give the segment a name"), ("vips", "already exists"), ("x" * 201, "longer than 200")],
)
def test_names_are_required_and_unique_whatever_the_case(actor, name, says):
    segment_create(name="VIPs", rules=VIP, actor=actor)
    with pytest.raises(ApplicationError) as caught:
        segment_create(name=name, rules=VIP, actor=actor)
    assert caught.value.field == "name" and says in caught.value.message
    other = segment_create(name="Other", rules=VIP, actor=actor)
    with pytest.raises(ApplicationError):
        segment_update(segment=other, name=name, actor=actor)
    assert Segment.objects.count() == 2


def test_invalid_rules_write_nothing(actor):
    with pytest.raises(RuleError):
        segment_create(
            name="Bad", rules={"op": "all", "rules": [{"kind": "tag", "tag": "nope"}]}, actor=actor
        )
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    with pytest.raises(RuleError):
        segment_update(segment=segment, name="Renamed", rules={"op": "all", "rules": []}, actor=actor)
    segment.refresh_from_db()
    assert (segment.name, segment.version, Segment.objects.count(), SegmentVersion.objects.count()) == (
        "VIPs",
        1,
        1,
        1,
    )


def test_archiving_is_refused_while_a_live_segment_includes_it(actor):
    vips = segment_create(name="VIPs", rules=VIP, actor=actor)
    user = segment_create(
        name="Uses VIPs",
        rules={"op": "all", "rules": [{"kind": "in_segment", "segment": vips.pk}]},
        actor=actor,
    )
    with pytest.raises(ApplicationError) as caught:
        segment_update(segment=vips, archived=True, actor=actor)
    assert caught.value.code == "segment_in_use" and "“Uses VIPs” include it" in caught.value.message
    segment_update(segment=user, archived=True, actor=actor)
    segment_update(segment=vips, archived=True, actor=actor)
    assert vips.archived
    # Restoring checks the rules again: "Uses VIPs" includes an archived segment now.
    with pytest.raises(RuleError) as caught:
        segment_update(segment=user, archived=False, actor=actor)
    assert "is archived" in caught.value.message
    segment_update(segment=vips, archived=False, actor=actor)
    segment_update(segment=user, archived=False, actor=actor)
    assert [e.details.get("archived") for e in log("segment.changed")] == [True, True, False, False]


def test_versions_are_append_only(actor):
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    version = segment.versions.get()
    with pytest.raises(AppendOnlyError):
        version.delete()
    with pytest.raises(AppendOnlyError):
        SegmentVersion.objects.filter(pk=version.pk).update(rules=LAPSED)
    assert segment.versions.get().rules == VIP


def test_the_live_count_of_a_draft(actor):
    segment = segment_create(name="VIPs", rules=VIP, actor=actor)
    assert rules_count(rules=LAPSED) == 1
    with CaptureQueriesContext(connection) as captured:
        assert rules_count(rules=VIP, segment=segment) == 2
    assert len(captured.captured_queries) == 2  # the tag's existence, the count
    with pytest.raises(RuleError):
        rules_count(
            rules={"op": "all", "rules": [{"kind": "in_segment", "segment": segment.pk}]}, segment=segment
        )


def test_which_segments_use_a_custom_field(actor):
    AttributeDefinition.objects.create(key="orders", type="number")
    AttributeDefinition.objects.create(key="order", type="number")
    uses = {"op": "all", "rules": [{"kind": "attribute", "key": "orders", "operator": "gt", "value": 1}]}
    segment = segment_create(name="Buyers", rules=uses, actor=actor)
    segment_update(segment=segment, rules=VIP, actor=actor)  # a frozen version still uses it
    segment_update(segment=segment, archived=True, actor=actor)
    assert segments_using_attribute("orders") == ["Buyers"]
    assert segments_using_attribute("order") == []
