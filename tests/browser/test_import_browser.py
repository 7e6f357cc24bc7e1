"""An Editor imports a customer list through the admin, with a real django-q2 worker doing the work.

The worker is ``manage.py qcluster`` in a process of its own against the live server's database,
as in production: the upload and mapping only queue tasks, the page follows the worker through
its progress endpoint. The worker is stopped while the import is confirmed, so the page is seen
waiting at "0 of 2 rows applied" (no race with a fast worker), then started again to finish it.
"""

import os
import signal
import subprocess
import sys

import pytest

from tests.messaging.test_limiter import ROOT, worker_env

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,  # the worker process reads the live server's database
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SCREENSHOTS = os.environ.get("IMPORT_SCREENSHOTS", "")  # a folder, to look at the pages

CSV = (
    b"Telefon;Vorname;Nachname;Kundennummer;Newsletter;Anmeldedatum\r\n"
    b"0151 23456789;Anna;Berg;K-1001;ja;2025-03-01\r\n"
    b"+49 151 98765432;Ben;Kurz;K-1002;ja;2025-03-02\r\n"
    b"12;Carl;Klein;K-1003;ja;2025-03-03\r\n"
)


def shot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


class Worker:
    """``manage.py qcluster`` in its own process group, started and stopped by the test."""

    def __init__(self):
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            env=worker_env("http://127.0.0.1:9", Q_WORKERS="1"),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)  # the cluster stops its workers and exits
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # this group is the cluster and its workers
            self.process.wait()
        self.process = None


@pytest.fixture
def worker(live_server):
    worker = Worker()
    yield worker
    worker.stop()


def test_an_editor_uploads_maps_previews_confirms_and_watches_the_import_finish(login, live_server, worker):
    from contacts.models import ConsentEvent, ContactImport, CurrentConsent, ImportStatus, Purpose
    from contacts.phones import normalize_phone
    from tests.factories import UserFactory, make_wording

    wording = make_wording(Purpose.MARKETING, language="de", text="Ja, schickt mir Angebote per WhatsApp.")
    page = login(UserFactory(username="erin", role="Editor"))
    worker.start()

    # Upload: the separator is detected.
    page.goto(f"{live_server.url}/admin/contacts/contactimport/")
    page.click("#upload-import")
    page.set_input_files("#id_file", {"name": "kunden.csv", "mimeType": "text/csv", "buffer": CSV})
    shot(page, "1-upload")
    page.click("input[name=_upload]")

    # Mapping: the guess is right but for the customer number, which is made a custom field.
    page.wait_for_selector("#import-mapping-form")
    assert page.input_value("#id_col0_field") == "phone"
    assert page.input_value("#id_col4_field") == "consent:marketing"
    assert page.input_value("#id_col5_field") == "ignore"  # the date of opt-in, below
    assert page.input_value("#id_consent_date_column") == "5"
    assert page.input_value("#id_col3_field") == "ignore"
    assert "K-1001" in page.inner_text("#column-3")
    page.select_option("#id_col3_field", "attribute")
    page.fill("#id_col3_key", "customer_no")
    page.select_option("#id_wording_marketing", str(wording.pk))
    page.fill("#id_consent_source", "Newsletter form at the shop counter")
    shot(page, "2-mapping")
    page.click("input[name=_map]")

    # The worker checks the rows; the page reloads into the preview when it is done.
    page.wait_for_selector("#import-preview")
    shot(page, "3-preview")
    assert page.inner_text("#count-new td") == "2"
    assert page.inner_text("#count-refused td") == "1"
    assert page.inner_text("#count-opt-ins td") == "2"
    assert "12" in page.inner_text("#import-refused") and "not a valid phone number" in page.inner_text(
        "#import-refused"
    )

    # Confirm while no worker runs: the progress bar waits at the start...
    worker.stop()
    page.click("input[name=_confirm]")
    page.wait_for_selector("#import-progress-bar")
    assert page.inner_text("#import-progress-text") == "0 of 2 rows applied"
    assert page.get_attribute("#import-progress-bar", "max") == "2"
    shot(page, "4-applying")
    # ...and reaches the end once a worker takes the task; the page then shows the result.
    worker.start()
    page.wait_for_selector("#import-result", timeout=60_000)
    shot(page, "5-applied")
    assert page.inner_text("#import-done-text") == "2 of 2 rows applied"
    assert page.inner_text("#import-status") == "Status: Applied"

    contact_import = ContactImport.objects.get()
    assert contact_import.status == ImportStatus.APPLIED and contact_import.confirmed_by.username == "erin"
    for phone, customer_no in (("0151 23456789", "K-1001"), ("+49 151 98765432", "K-1002")):
        consent = CurrentConsent.objects.select_related("contact", "event").get(
            contact__phone=normalize_phone(phone), purpose=Purpose.MARKETING
        )
        assert consent.status == "opted_in"
        assert consent.contact.attributes == {"customer_no": customer_no}
        assert consent.event.source == "import" and consent.event.wording == wording
        assert consent.event.evidence["import_id"] == contact_import.pk
        assert consent.event.evidence["file_sha256"] == contact_import.file_sha256
    assert ConsentEvent.objects.count() == 2
