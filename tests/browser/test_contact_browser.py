import pytest

from contacts.models import ConsentEvent, Contact

# serialized_rollback: the flush after a live-server test would otherwise drop the roles the
# migrations created, and later tests on the same worker rely on them.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_editor_creates_a_contact_with_an_opt_in_and_finds_it_by_another_spelling(login, live_server):
    from tests.factories import UserFactory

    page = login(UserFactory(username="erin", role="Editor"))

    page.goto(f"{live_server.url}/admin/contacts/contact/add/")
    page.fill("#id_phone", "0151 2345-6789")
    page.fill("#id_first_name", "Pablo")
    page.fill("#id_last_name", "Neruda")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    page.click("a.record-opt-in")
    page.select_option("#id_purpose", "marketing")
    page.fill("#id_wording_text", "Yes, send me offers from Demo Shop on WhatsApp.")
    page.fill("#id_note", "Asked at the counter")
    page.click("input[name=_record]")
    page.wait_for_selector(".messagelist .success")
    assert "Opted in" in page.inner_text("#consent-panel")

    page.goto(f"{live_server.url}/admin/contacts/contact/")
    page.fill("#searchbar", "+49 (151) 234 567 89")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "+4915123456789" in rows.first.inner_text()
    assert "Opted in" in rows.first.inner_text()

    contact = Contact.objects.get()
    assert ConsentEvent.objects.get(contact=contact).actor_label == "erin"
