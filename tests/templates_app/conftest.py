import pytest

from templates_app.models import MessageTemplate, TemplateButton


@pytest.fixture
def memory_backend(settings):
    """The in-memory WhatsApp backend, emptied for the test."""
    from cloud_api.backends import get_backend

    settings.WHATSAPP_BACKEND = "memory"
    backend = get_backend()
    backend.reset()
    backend.template_status_on_create = "PENDING"
    yield backend
    backend.reset()


@pytest.fixture
def draft_template(db):
    template = MessageTemplate.objects.create(
        name="spring_sale",
        language="en",
        category="MARKETING",
        body="Hi {{1}}, our spring sale starts {{2}}. Reply STOP to opt out.",
        body_samples={"1": "Pablo", "2": "tomorrow"},
        footer="Demo Shop",
    )
    TemplateButton.objects.create(template=template, position=0, kind="QUICK_REPLY", text="Shop now")
    TemplateButton.objects.create(
        template=template, position=1, kind="QUICK_REPLY", text="Stop promotions", opt_out_purpose="marketing"
    )
    return template
