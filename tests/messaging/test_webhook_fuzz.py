"""Odd but signed JSON thrown at the view: never a 5xx, always stored, never half-applied."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_api.signatures import signature_header
from messaging.models import WebhookEvent, WebhookOutcome

URL = "/webhooks/whatsapp/"
SECRET = "fuzz-secret"

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
wamids = st.sampled_from(["wamid.A", "wamid.B", ""]) | st.text(max_size=140)
status_items = st.fixed_dictionaries(
    {},
    optional={
        "id": wamids | scalars,
        "status": st.sampled_from(["sent", "delivered", "read", "failed", "played", "deleted", ""]) | scalars,
        "timestamp": st.sampled_from(["1750000000", "-5", "99999999999999999999", "x"]) | scalars,
        "biz_opaque_callback_data": st.uuids().map(str) | scalars,
        "errors": st.lists(st.fixed_dictionaries({}, optional={"code": scalars | st.integers()}), max_size=2)
        | anything,
        "pricing": anything,
    },
)
message_items = st.fixed_dictionaries(
    {},
    optional={
        "from": st.sampled_from(["4915112345678", "55119", "", "+49 151"]) | scalars,
        "id": wamids | scalars,
        "timestamp": st.sampled_from(["1750000000", "0"]) | scalars,
        "type": st.sampled_from(["text", "image", "button", "interactive", "reaction", "order", "weird"])
        | scalars,
        "text": st.fixed_dictionaries(
            {"body": st.sampled_from(["STOP", "START", "stop all", "hi"]) | scalars}
        )
        | anything,
        "button": st.fixed_dictionaries({}, optional={"payload": scalars, "text": scalars}) | anything,
        "context": st.fixed_dictionaries({}, optional={"id": wamids | scalars}) | anything,
        "interactive": anything,
    },
)
values = st.fixed_dictionaries(
    {},
    optional={
        "statuses": st.lists(status_items, max_size=3) | anything,
        "messages": st.lists(message_items, max_size=3) | anything,
        "contacts": st.lists(
            st.fixed_dictionaries({}, optional={"wa_id": scalars, "profile": anything, "user_id": scalars}),
            max_size=2,
        )
        | anything,
        "user_preferences": st.lists(
            st.fixed_dictionaries(
                {}, optional={"wa_id": scalars, "value": st.sampled_from(["stop", "resume"]) | scalars}
            ),
            max_size=2,
        )
        | anything,
        "event": scalars,
        "message_template_id": scalars,
        "max_daily_conversations_per_business": scalars,
    },
)
fields = st.sampled_from(
    [
        "messages",
        "user_preferences",
        "message_template_status_update",
        "message_template_quality_update",
        "template_category_update",
        "business_capability_update",
        "account_update",
    ]
) | st.text(max_size=10)
envelopes = st.fixed_dictionaries(
    {"object": st.just("whatsapp_business_account") | scalars},
    optional={
        "entry": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": scalars,
                    "time": scalars,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {}, optional={"field": fields | scalars, "value": values | anything}
                        ),
                        max_size=3,
                    )
                    | anything,
                },
            ),
            max_size=3,
        )
        | anything,
    },
)


@pytest.mark.django_db
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=envelopes | anything, ensure_ascii=st.booleans())
def test_odd_signed_json_is_stored_and_never_a_server_error(
    client, django_capture_on_commit_callbacks, monkeypatch, customer, payload, ensure_ascii
):
    import functools

    from django_q.tasks import async_task

    import messaging.webhooks.tasks

    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", functools.partial(async_task, sync=True))
    from django.conf import settings as django_settings

    monkeypatch.setattr(django_settings, "WHATSAPP_APP_SECRET", SECRET)
    body = json.dumps(payload, ensure_ascii=ensure_ascii).encode()
    before = WebhookEvent.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            URL,
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature_header(body, SECRET),
        )
    assert response.status_code == 200
    event = WebhookEvent.objects.order_by("-id").first()
    assert WebhookEvent.objects.count() == before + 1
    assert bytes(event.body) == body
    assert event.outcome in (WebhookOutcome.PROCESSED, WebhookOutcome.FAILED)
    if event.outcome == WebhookOutcome.FAILED:
        # Only bodies that are not a JSON object may fail; a readable envelope is always processed.
        assert not isinstance(payload, dict), event.error
