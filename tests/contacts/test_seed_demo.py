import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from contacts.models import ConsentEvent, Contact, CurrentConsent
from core.roles import ROLES

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_one_user_per_role_and_contacts_with_history(capsys, settings):
    settings.DEBUG = True  # the test runner turns it off; `make run` has it on
    call_command("seed_demo")
    out = capsys.readouterr().out
    User = get_user_model()
    for role in ROLES:
        assert User.objects.filter(groups__name=role, is_staff=True).exists()
    assert "editor-demo-2026" in out  # the logins are printed
    assert Contact.objects.count() == 10
    assert ConsentEvent.objects.filter(action="opt_out").exists()
    assert CurrentConsent.objects.filter(status="opted_in").exists()
    call_command("seed_demo")  # idempotent
    assert Contact.objects.count() == 10


def test_seed_demo_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
