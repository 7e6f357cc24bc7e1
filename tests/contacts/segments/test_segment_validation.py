"""Bad rules are refused with a message naming the rule by its place, and its path for the editor."""

import pytest

from contacts.models import AttributeDefinition, ContactList
from contacts.segments.rules import (
    MAX_DEPTH,
    MAX_EXPANDED_CONDITIONS,
    MAX_INCLUSION_DEPTH,
    RuleError,
    validate_rules,
    where,
)
from contacts.segments.services import segment_create, segment_update
from core.actors import Actor
from core.errors import ApplicationError
from tests.factories import TagFactory

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
VIP = {"kind": "tag", "tag": "vip"}


@pytest.fixture(autouse=True)
def catalogue(db):
    TagFactory(name="VIP")
    AttributeDefinition.objects.create(key="orders", type="number")
    AttributeDefinition.objects.create(key="tier", type="text")
    AttributeDefinition.objects.create(key="birthday", type="date")
    AttributeDefinition.objects.create(key="newsletter", type="boolean")


def refused(tree, **kwargs) -> RuleError:
    with pytest.raises(RuleError) as caught:
        validate_rules(tree, **kwargs)
    assert caught.value.code == "invalid_rule" and caught.value.field == "rules"
    assert caught.value.details["path"] == caught.value.path
    return caught.value


def in_group(*rules):
    return {"op": "all", "rules": [VIP, {"op": "any", "rules": list(rules)}]}


def test_the_message_names_the_rule_by_its_place_and_carries_its_path():
    error = refused(in_group(VIP, {"kind": "attribute", "key": "age", "operator": "gt", "value": 3}))
    assert error.path == [1, 1]
    assert error.rule_field == "key"
    assert error.message.startswith(
        "Rule 2 › rule 2 (custom field “age” greater than 3): There is no custom field “age”"
    )


@pytest.mark.parametrize(
    "rule,field,says",
    [
        (
            {"kind": "attribute", "key": "orders", "operator": "contains", "value": 3},
            "operator",
            "does not fit a number",
        ),
        (
            {"kind": "attribute", "key": "newsletter", "operator": "gt", "value": True},
            "operator",
            "does not fit a boolean",
        ),
        (
            {"kind": "attribute", "key": "tier", "operator": "lt", "value": "a"},
            "operator",
            "does not fit a text",
        ),
        (
            {"kind": "attribute", "key": "orders", "operator": "gt", "value": "abc"},
            "value",
            "“abc” is not a number",
        ),
        ({"kind": "attribute", "key": "orders", "operator": "gt", "value": True}, "value", "is not a number"),
        (
            {"kind": "attribute", "key": "orders", "operator": "gt", "value": "NaN"},
            "value",
            "is not a number",
        ),
        (
            {"kind": "attribute", "key": "birthday", "operator": "gt", "value": "2024-13-01"},
            "value",
            "is not a date",
        ),
        (
            {"kind": "attribute", "key": "birthday", "operator": "gt", "value": "1.3.2024"},
            "value",
            "is not a date",
        ),
        (
            {"kind": "attribute", "key": "newsletter", "operator": "equals", "value": "maybe"},
            "value",
            "is not yes or no",
        ),
        (
            {"kind": "attribute", "key": "tier", "operator": "equals", "value": " "},
            "value",
            "use “is not set”",
        ),
        ({"kind": "attribute", "key": "tier", "operator": "equals"}, "value", "A value is needed"),
        ({"kind": "attribute", "key": "tier", "operator": "is_set", "value": "x"}, "value", "takes no value"),
        ({"kind": "attribute", "key": "orders", "operator": "in", "value": 3}, "value", "needs a list"),
        (
            {"kind": "attribute", "key": "orders", "operator": "in", "value": [3, "x"]},
            "value",
            "“x” is not a number",
        ),
        (
            {"kind": "attribute", "key": "orders", "operator": "between", "value": 3},
            "operator",
            "not one of the choices",
        ),
        ({"kind": "tag", "tag": "nobody"}, "tag", "There is no tag “nobody”"),
        ({"kind": "tag"}, "tag", "Tag is missing"),
        (
            {"kind": "tag", "tag": "vip", "colour": "red"},
            "colour",
            "“colour” is not a field of this condition",
        ),
        ({"kind": "language", "in": ["de", "xx"]}, "in", "“xx” is not one of the choices"),
        ({"kind": "language", "in": "de"}, "in", "must be a list"),
        ({"kind": "country", "in": ["XX"]}, "in", "“XX” is not one of the choices"),
        ({"kind": "time_zone", "in": ["Mars/Base"]}, "in", "“Mars/Base” is not one of the choices"),
        ({"kind": "created"}, "after", "Give a date after"),
        ({"kind": "created", "after": "2024-01-01", "within_days": 3}, "within_days", "not both"),
        ({"kind": "created", "after": "2024-02-01", "before": "2024-01-01"}, "before", "No day is after"),
        ({"kind": "created", "within_days": 0}, "within_days", "between 1 and"),
        ({"kind": "created", "before": "yesterday"}, "before", "is not a date"),
        (
            {"kind": "consent", "purpose": "marketing", "status": "none", "since": "2024-01-01"},
            "since",
            "no date or source",
        ),
        ({"kind": "consent", "purpose": "sales", "status": "opted_in"}, "purpose", "not one of the choices"),
        (
            {"kind": "consent", "purpose": "marketing", "status": "opted_in", "source": "pigeon"},
            "source",
            "not one of",
        ),
        ({"kind": "consent", "purpose": "marketing"}, "status", "Status is missing"),
        ({"kind": "wrote_within_days", "days": "abc"}, "days", "is not a whole number"),
        ({"kind": "wrote_within_days", "days": -1}, "days", "between 1 and"),
        ({"kind": "received_message_within_days"}, "days", "Days is missing"),
        ({"kind": "in_segment", "segment": 999999}, "segment", "There is no segment #999999"),
        ({"kind": "in_list", "list": 999999}, "list", "There is no static list #999999"),
    ],
)
def test_each_bad_condition_is_refused_with_its_field(rule, field, says):
    error = refused(in_group(rule))
    assert error.path == [1, 0]
    assert error.rule_field == field
    assert error.message.startswith("Rule 2 › rule 1")
    assert says in error.message


@pytest.mark.parametrize(
    "tree,path,says",
    [
        ([VIP], [], "must be a group"),
        ({"kind": "tag", "tag": "vip"}, [], "must be a group"),
        ({"op": "all", "rules": []}, [], "the group is empty"),
        ({"op": "every", "rules": [VIP]}, [], "“every” is not a group"),
        ({"op": "all", "rules": [VIP], "name": "x"}, [], "only “op” and “rules”"),
        ({"op": "all", "rules": [VIP, "vip"]}, [1], "each rule is a condition"),
        ({"op": "all", "rules": [{"kind": "colour"}]}, [0], "“colour” is not a kind of condition"),
        (
            {"op": "all", "rules": [{"op": "none", "rules": []}]},
            [0],
            "Rule 1 (group “none of”): the group is empty",
        ),
    ],
)
def test_bad_groups_are_refused(tree, path, says):
    error = refused(tree)
    assert error.path == path
    assert says in error.message


def test_groups_nest_only_so_deep_and_a_tree_has_only_so_many_rules():
    tree = VIP
    for _ in range(MAX_DEPTH):
        tree = {"op": "all", "rules": [tree]}
    validate_rules(tree)
    assert "nest at most" in refused({"op": "all", "rules": [tree]}).message
    assert "at most 200 rules" in refused({"op": "any", "rules": [VIP] * 201}).message


def test_values_are_normalised():
    cleaned = validate_rules(
        {
            "op": "all",
            "rules": [
                {"kind": "attribute", "key": "orders", "operator": "gte", "value": "3"},
                {"kind": "attribute", "key": "orders", "operator": "in", "value": ["1.50", 2, 2]},
                {"kind": "attribute", "key": "newsletter", "operator": "equals", "value": "Yes"},
                {"kind": "language", "in": ["de", "de", "en"]},
                {"kind": "wrote_within_days", "days": "7"},
                {"kind": "tag", "tag": "  vip "},
            ],
        }
    )
    assert cleaned["rules"] == [
        {"kind": "attribute", "key": "orders", "operator": "gte", "value": 3},
        {"kind": "attribute", "key": "orders", "operator": "in", "value": [1.5, 2]},
        {"kind": "attribute", "key": "newsletter", "operator": "equals", "value": True},
        {"kind": "language", "in": ["de", "en"]},
        {"kind": "wrote_within_days", "days": 7},
        {"kind": "tag", "tag": "vip"},
    ]


def test_where_numbers_rules_from_one():
    assert where([]) == "The rules"
    assert where([2, 0], {"kind": "tag", "tag": "vip"}) == "Rule 3 › rule 1 (has tag “vip”)"


# --- including other segments --------------------------------------------------------------------


def includes(segment):
    return {
        "op": "all",
        "rules": [VIP, {"op": "any", "rules": [{"kind": "in_segment", "segment": segment.pk}]}],
    }


def test_a_segment_cannot_include_itself():
    alone = segment_create(name="Alone", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)
    error = refused(includes(alone), segment_id=alone.pk)
    assert error.path == [1, 0] and "cannot include itself" in error.message


def test_a_cycle_through_other_segments_is_refused_with_the_chain():
    a = segment_create(name="A", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)
    b = segment_create(name="B", rules=includes(a), actor=SYSTEM)
    c = segment_create(name="C", rules=includes(b), actor=SYSTEM)
    with pytest.raises(RuleError) as caught:
        segment_update(segment=a, rules=includes(c), actor=SYSTEM)
    assert caught.value.path == [1, 0]
    assert caught.value.message == (
        "Rule 2 › rule 1 (member of segment “C”): “C” includes this segment (C › B › this segment), "
        "and a segment cannot include itself, directly or through others."
    )
    a.refresh_from_db()
    assert a.version == 1 and a.rules == {"op": "all", "rules": [VIP]}


def test_an_archived_segment_cannot_be_included():
    old = segment_create(name="Old", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)
    segment_update(segment=old, archived=True, actor=SYSTEM)
    error = refused(includes(old))
    assert error.rule_field == "segment" and "“Old” is archived" in error.message


def test_a_list_rule_names_an_existing_list():
    listed = ContactList.objects.create(name="Fair", size=0)
    validate_rules({"op": "all", "rules": [{"kind": "in_list", "list": listed.pk}]})


def test_segments_include_segments_only_so_deep():
    chain = [segment_create(name="S0", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)]
    for n in range(1, MAX_INCLUSION_DEPTH):
        chain.append(segment_create(name=f"S{n}", rules=includes(chain[-1]), actor=SYSTEM))
    # Including the last one makes a chain of MAX_INCLUSION_DEPTH inclusions: still fine.
    top = segment_create(name="Top", rules=includes(chain[-1]), actor=SYSTEM)
    error = refused(includes(top))
    assert error.path == [1, 0] and f"at most {MAX_INCLUSION_DEPTH}" in error.message


def fans_out(segment, times):
    return {"op": "any", "rules": [{"kind": "in_segment", "segment": segment.pk}] * times}


def test_a_segment_may_not_expand_to_too_many_conditions():
    """Each inclusion is compiled in place: 40 × 40 × 1 conditions is refused at saving."""
    base = segment_create(name="Base", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)
    middle = segment_create(name="Middle", rules=fans_out(base, 40), actor=SYSTEM)
    error = refused(fans_out(middle, 40))
    assert error.path == [] and f"at most {MAX_EXPANDED_CONDITIONS:,}" in error.message
    assert "conditions; at most" in error.message


def test_an_included_segment_that_grew_since_makes_the_count_refuse_not_explode():
    from contacts.segments.services import segment_count

    base = segment_create(name="Base", rules={"op": "all", "rules": [VIP]}, actor=SYSTEM)
    middle = segment_create(name="Middle", rules=fans_out(base, 2), actor=SYSTEM)
    top = segment_create(name="Top", rules=fans_out(middle, 40), actor=SYSTEM)
    segment_update(segment=middle, rules=fans_out(base, 40), actor=SYSTEM)  # fine on its own
    with pytest.raises(ApplicationError, match="has grown since it was saved") as refusal:
        segment_count(top)
    assert refusal.value.code == "segment_too_large"


def test_a_whole_number_in_superscript_digits_is_refused_not_a_crash():
    # "²".isdigit() is True, int("²") raises ValueError: it is "not a whole number", like any text.
    rule = {"op": "all", "rules": [{"kind": "in_segment", "segment": "\u00b2"}]}
    with pytest.raises(RuleError) as refused:
        validate_rules(rule)
    assert "is not a whole number" in str(refused.value)
