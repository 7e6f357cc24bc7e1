"""What the send path asks of a template: sendable or not (and why), parameters, components."""

import pytest

from core.errors import ApplicationError
from templates_app.models import MessageTemplate, TemplateVersion, VersionReview
from templates_app.sending import require_sendable, send_components, sendability

pytestmark = pytest.mark.django_db

COMPONENTS = [
    {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["h"]}},
    {"type": "BODY", "text": "Hi {{1}}, order {{2}} ships today.", "example": {"body_text": [["A", "B"]]}},
    {
        "type": "BUTTONS",
        "buttons": [
            {
                "type": "URL",
                "text": "Track",
                "url": "https://shop.example/t/{{1}}",
                "example": ["https://shop.example/t/1"],
            },
            {"type": "QUICK_REPLY", "text": "Stop"},
        ],
    },
]


@pytest.fixture
def approved():
    template = MessageTemplate.objects.create(
        name="order_update", language="en_US", category="UTILITY", status="APPROVED", meta_template_id="77"
    )
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category="UTILITY",
        parameter_format="POSITIONAL",
        components=COMPONENTS,
        opt_out_button_index=1,
        opt_out_purpose="service",
        review=VersionReview.APPROVED,
    )
    template.approved_version = version
    template.save()
    return template


PARAMS = {
    "header": {"type": "document", "link": "https://shop.example/invoice.pdf"},
    "body": ["Pablo", "ORD-1"],
    "buttons": {"0": "ORD-1"},
}


def test_an_approved_template_with_fitting_parameters_is_sendable(approved):
    result = sendability(approved, PARAMS)
    assert result.ok and result.version == approved.approved_version


@pytest.mark.parametrize(
    "parameters,fragment",
    [
        ({**PARAMS, "body": ["Pablo"]}, "2"),
        ({**PARAMS, "header": {"type": "image", "link": "https://x.example/a.png"}}, "document"),
        ({**PARAMS, "buttons": {}}, "button"),
        ({**PARAMS, "body": ["Pablo", ""]}, "empty"),
    ],
)
def test_parameters_that_do_not_fit_say_why(approved, parameters, fragment):
    result = sendability(approved, parameters)
    assert not result.ok and fragment in result.reason.lower()
    with pytest.raises(ApplicationError) as exc:
        require_sendable(approved, parameters)
    assert exc.value.code == "template_parameters_invalid"


def test_send_components_carry_the_opt_out_payload_on_the_opt_out_button(approved):
    components = send_components(approved.approved_version, PARAMS, opt_out_payload="optout:service:abc")
    assert {
        "type": "header",
        "parameters": [{"type": "document", "document": {"link": "https://shop.example/invoice.pdf"}}],
    } in components
    assert {
        "type": "button",
        "sub_type": "quick_reply",
        "index": "1",
        "parameters": [{"type": "payload", "payload": "optout:service:abc"}],
    } in components
    assert {
        "type": "button",
        "sub_type": "url",
        "index": "0",
        "parameters": [{"type": "text", "text": "ORD-1"}],
    } in components
