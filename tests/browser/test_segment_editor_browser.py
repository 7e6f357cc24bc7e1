"""The rule editor in a browser: it writes the JSON, counts the draft, and marks a refused rule."""

import json

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def rules_in(page):
    return json.loads(page.input_value("textarea[name=rules]"))


def test_building_rules_counting_them_and_fixing_a_refused_one(login, live_server):
    from contacts.models import AttributeDefinition, Segment
    from tests.factories import ContactFactory, TagFactory, UserFactory

    vip = TagFactory(name="vip")
    for orders in (1, 5):
        ContactFactory(attributes={"orders": orders}).tags.add(vip)
    ContactFactory(attributes={"orders": 9})
    AttributeDefinition.objects.create(key="orders", type="number")

    page = login(UserFactory(username="erin", role="Editor"))
    page.goto(f"{live_server.url}/admin/contacts/segment/add/")
    page.fill("#id_name", "Good VIPs")
    # A new segment's empty group is not refused before anything is typed: a hint instead.
    page.wait_for_selector("#segment-editor[data-ready=true]")
    assert page.inner_text("#segment-live-count") == "Add a rule to see how many contacts match."
    assert "the group is empty" not in page.content()
    page.click("#segment-editor >> text=Add condition")
    page.fill("#segment-editor [data-path='0'] input[data-field=tag]", "nope")
    # The live count refuses the unknown tag and the editor marks that rule.
    page.wait_for_selector("#segment-editor [data-path='0'].segment-rule-error")
    assert "Rule 1 (has tag “nope”): There is no tag “nope”." in page.inner_text("#segment-live-count")
    page.fill("#segment-editor [data-path='0'] input[data-field=tag]", "vip")
    page.wait_for_function(
        "document.querySelector('#segment-live-count').innerText.startsWith('2 contacts match')"
    )
    assert page.query_selector(".segment-rule-error") is None

    page.click("#segment-editor >> text=Add condition")
    page.select_option("#segment-editor [data-path='1'] select[data-field=kind]", "attribute")
    page.select_option("#segment-editor [data-path='1'] select[data-field=key]", "orders")
    page.select_option("#segment-editor [data-path='1'] select[data-field=operator]", "gt")
    # Not a number: what was typed stays in the box the refusal marks.
    value = "#segment-editor [data-path='1'] input[data-field=value]"
    page.fill(value, "abc")
    page.wait_for_selector("#segment-editor [data-path='1'].segment-rule-error")
    assert page.input_value(value) == "abc"
    assert page.get_attribute(value, "inputmode") == "decimal"
    page.fill(value, "3")
    page.wait_for_function(
        "document.querySelector('#segment-live-count').innerText.startsWith('1 contact matches')"
    )
    assert rules_in(page) == {
        "op": "all",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            {"kind": "attribute", "key": "orders", "operator": "gt", "value": 3},
        ],
    }
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist")
    segment = Segment.objects.get(name="Good VIPs")
    assert segment.version == 1
    assert segment.rules["rules"][1] == {"kind": "attribute", "key": "orders", "operator": "gt", "value": 3}


def test_a_rule_the_server_refuses_is_marked_after_saving(login, live_server):
    from contacts.models import Segment
    from tests.factories import TagFactory, UserFactory

    TagFactory(name="vip")
    page = login(UserFactory(username="erin", role="Editor"))
    page.goto(f"{live_server.url}/admin/contacts/segment/add/")
    page.fill("#id_name", "Typed by hand")
    tree = {
        "op": "any",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            {"op": "none", "rules": [{"kind": "wrote_within_days", "days": 0}]},
        ],
    }
    page.fill("textarea[name=rules]", json.dumps(tree))
    page.click("input[name=_save]")
    page.wait_for_selector(".errornote")
    marked = page.wait_for_selector("#segment-editor [data-path='1.0'].segment-rule-error")
    assert "Rule 2 › rule 1 (wrote to us within the last 0 days): Days must be between 1 and" in (
        marked.inner_text()
    )
    days = "#segment-editor [data-path='1.0'] input[data-field=days]"
    assert page.get_attribute(days, "aria-describedby") == "segment-rule-message-1-0"
    assert page.query_selector("#segment-rule-message-1-0") is not None
    assert (
        page.get_attribute("#segment-editor [data-path='1.0'] input[data-field=days]", "aria-invalid")
        == "true"
    )
    assert Segment.objects.count() == 0
