import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_preview_follows_the_body_and_its_samples_as_they_are_typed(login, live_server):
    from tests.factories import UserFactory

    page = login(UserFactory(username="erin", role="Editor"))
    page.goto(f"{live_server.url}/admin/templates_app/messagetemplate/add/")
    page.fill("#id_name", "order_update")
    page.select_option("#id_category", "UTILITY")
    page.fill("#id_body", "Hello {{1}}, your *order* is on its way.")
    page.wait_for_function(
        "document.querySelector('#template-preview .wa-body').innerText.includes('Hello {{1}}')"
    )
    page.fill("#id_body_samples", "1: Pablo")
    page.wait_for_function(
        "document.querySelector('#template-preview .wa-body').innerText.includes('Hello Pablo')"
    )
    assert page.inner_html("#template-preview .wa-body").count("<strong>order</strong>") == 1
