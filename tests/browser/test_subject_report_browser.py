"""The data-subject report printed to PDF by Chromium: every section is in the printed text, the
admin's chrome is not, and each section starts a page.

The PDF's text is read with pypdf (a development dependency: the machines have no pdftotext).
"""

import io

import pytest

from compliance.subject_report import SECTIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_report_prints_every_section_without_the_admin_around_it(login, live_server):
    from pypdf import PdfReader

    from contacts.models import Purpose
    from messaging.models import InboundMessage, MessageKind, MessageStatus, OutboundMessage
    from tests.factories import ContactFactory, UserFactory, opt_in, opt_out

    ana = ContactFactory(
        phone="+4915112345678", first_name="Ana", last_name="Lima", attributes={"customer_no": "4711"}
    )
    opted_in = opt_in(ana, Purpose.MARKETING, evidence={"page": "/signup"})
    opt_out(ana, Purpose.MARKETING)
    OutboundMessage.objects.create(
        contact=ana,
        kind=MessageKind.TEMPLATE,
        purpose=Purpose.MARKETING,
        status=MessageStatus.READ,
        rendered_text="Our spring sale starts Sunday",
        authorising_event=opted_in,
        actor_kind="system",
        actor_label="tests",
    )
    InboundMessage.objects.create(
        wamid="wamid.browser.stop",
        contact=ana,
        type="text",
        text="STOP",
        payload={},
        sent_at=opted_in.occurred_at,
    )
    page = login(UserFactory(username="audrey", role="Auditor"))

    page.goto(f"{live_server.url}/admin/contacts/contact/{ana.pk}/change/")
    page.click("a.data-subject-report")
    page.wait_for_selector("#subject-inbound-section")
    page.emulate_media(media="print")
    pdf = page.pdf(format="A4", print_background=False)

    reader = PdfReader(io.BytesIO(pdf))
    pages = [p.extract_text() for p in reader.pages]
    text = " ".join(" ".join(pages).split())  # table cells wrap their words across lines
    for _key, title in SECTIONS:
        assert title in text, title
    assert "Our spring sale starts Sunday" in text and "STOP" in text and "customer_no: 4711" in text
    assert "Download as JSON" not in text and "WhatsApp back-office" not in text  # no admin chrome
    # Each section starts a page (the print stylesheet's page breaks).
    assert len(pages) >= len(SECTIONS)
    flat = [" ".join(body.split()) for body in pages]
    starts = [next(i for i, body in enumerate(flat) if title in body) for _key, title in SECTIONS]
    assert starts == sorted(set(starts))
