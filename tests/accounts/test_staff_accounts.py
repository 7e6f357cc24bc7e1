"""Staff accounts: an Administrator manages accounts within the other four roles, and cannot take
over a superuser or another Administrator, hand out superuser, the Administrator role or raw
permissions, change their own groups, or reshape the roles.

Each hole is tried the way an attacker would: a direct GET and a direct POST to Django's own admin
URLs (the change form, the password form, the add form, bulk actions, the Group admin).
"""

import pytest
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from accounts.services import account_deactivate, account_groups_set, account_password_reset
from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from core.roles import ADMINISTRATOR, APPROVER, AUDITOR, EDITOR, ROLES, SUPPORT
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-long-new-passphrase-91"


def change_url(user):
    return reverse("admin:auth_user_change", args=[user.pk])


def password_url(user):
    return reverse("admin:auth_user_password_change", args=[user.pk])


def change_form(user, **overrides):
    """The change form's POST as the browser sends it for ``user`` (an Administrator's fields)."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "groups": [g.pk for g in user.groups.all()],
    }
    if user.is_active:
        data["is_active"] = "on"
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def role(name):
    return Group.objects.get(name=name)


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True)


@pytest.fixture
def admin_client(client, administrator):
    client.force_login(administrator)
    return client


@pytest.fixture
def staff(db):
    return UserFactory(username="sam_staff", role=SUPPORT)


def entries(action):
    return list(ActivityLogEntry.objects.filter(action=action).order_by("id"))


# --- The superuser cannot be taken over -------------------------------------------------------


def test_an_administrator_cannot_change_a_superuser(admin_client, superuser):
    page = admin_client.get(change_url(superuser))
    assert page.status_code == 200  # may look, read-only
    assert b'name="username"' not in page.content and b'name="is_active"' not in page.content
    response = admin_client.post(change_url(superuser), change_form(superuser, username="pwned"))
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.username == "root" and superuser.is_superuser and superuser.is_active


@pytest.mark.parametrize("field", ["is_active", "is_staff"])
def test_an_administrator_cannot_deactivate_or_unstaff_a_superuser(admin_client, superuser, field):
    response = admin_client.post(change_url(superuser), change_form(superuser, **{field: None}))
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert getattr(superuser, field)


def test_an_administrator_cannot_reset_a_superusers_password(admin_client, superuser):
    assert admin_client.get(password_url(superuser)).status_code == 403
    response = admin_client.post(
        password_url(superuser),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 403
    superuser.refresh_from_db()
    assert superuser.check_password(PASSWORD)
    assert entries("account.password_reset") == []


def test_an_administrator_cannot_make_anyone_superuser(admin_client, staff):
    page = admin_client.get(change_url(staff))
    assert b'name="is_superuser"' not in page.content
    admin_client.post(change_url(staff), change_form(staff, is_superuser="on"))
    staff.refresh_from_db()
    assert not staff.is_superuser


def test_an_administrator_cannot_make_themselves_superuser(admin_client, administrator):
    admin_client.post(change_url(administrator), change_form(administrator, is_superuser="on"))
    administrator.refresh_from_db()
    assert not administrator.is_superuser


def test_an_administrator_cannot_grant_raw_permissions(admin_client, staff, administrator):
    perm = Permission.objects.get(codename="delete_user")
    page = admin_client.get(change_url(staff))
    assert b'name="user_permissions"' not in page.content
    admin_client.post(change_url(staff), change_form(staff, user_permissions=[perm.pk]))
    admin_client.post(change_url(administrator), change_form(administrator, user_permissions=[perm.pk]))
    assert not staff.user_permissions.exists() and not administrator.user_permissions.exists()


def test_an_administrator_cannot_create_a_superuser(admin_client):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "sneaky",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "is_superuser": "on",
            "is_staff": "on",
            "groups": [role(ADMINISTRATOR).pk],
        },
    )
    assert response.status_code == 302
    created = User.objects.get(username="sneaky")
    assert not created.is_superuser and not created.groups.exists()


# --- Groups: the five roles only, never one's own ------------------------------------------------


def test_an_administrator_gives_an_account_its_roles_and_it_is_logged(admin_client, staff, administrator):
    response = admin_client.post(
        change_url(staff), change_form(staff, groups=[role(EDITOR).pk, role(AUDITOR).pk])
    )
    assert response.status_code == 302
    assert set(staff.groups.values_list("name", flat=True)) == {EDITOR, AUDITOR}
    (entry,) = entries("account.groups_changed")
    assert entry.actor_user == administrator and entry.object_id == str(staff.pk)
    assert entry.details == {"before": [SUPPORT], "after": [AUDITOR, EDITOR]}


def test_an_administrator_cannot_change_their_own_groups(admin_client, administrator):
    page = admin_client.get(change_url(administrator))
    assert page.status_code == 200 and b'name="groups"' not in page.content
    admin_client.post(
        change_url(administrator), change_form(administrator, groups=[g.pk for g in Group.objects.all()])
    )
    assert list(administrator.groups.values_list("name", flat=True)) == [ADMINISTRATOR]
    assert entries("account.groups_changed") == []


def test_an_administrator_cannot_deactivate_themselves(admin_client, administrator):
    admin_client.post(change_url(administrator), change_form(administrator, is_active=None, is_staff=None))
    administrator.refresh_from_db()
    assert administrator.is_active and administrator.is_staff


def test_a_group_outside_the_five_roles_cannot_be_granted(admin_client, staff):
    ops = Group.objects.create(name="Ops")
    ops.permissions.add(Permission.objects.get(codename="delete_user"))
    page = admin_client.get(change_url(staff)).content.decode()
    assert f'value="{ops.pk}"' not in page
    response = admin_client.post(change_url(staff), change_form(staff, groups=[ops.pk]))
    assert response.status_code == 200  # the form, with the error
    assert "Select a valid choice" in response.content.decode()
    assert list(staff.groups.values_list("name", flat=True)) == [SUPPORT]


def test_a_group_a_superuser_gave_survives_an_administrators_edit(admin_client, staff):
    ops = Group.objects.create(name="Ops")
    staff.groups.add(ops)
    admin_client.post(change_url(staff), change_form(staff, groups=[role(EDITOR).pk]))
    assert set(staff.groups.values_list("name", flat=True)) == {EDITOR, "Ops"}
    (entry,) = entries("account.groups_changed")
    assert entry.details == {"before": ["Ops", SUPPORT], "after": [EDITOR, "Ops"]}


def test_the_groups_service_refuses_what_the_form_hides(administrator, staff, superuser):
    actor = Actor.for_user(administrator)
    ops = Group.objects.create(name="Ops")
    cases = [
        (staff, [ops], "group_not_a_role"),
        (administrator, [role(EDITOR)], "own_account"),
        (superuser, [role(EDITOR)], "superuser_account"),
    ]
    for target, groups, code in cases:
        with pytest.raises(ApplicationError) as info:
            account_groups_set(actor=actor, user=target, groups=groups)
        assert info.value.code == code and info.value.field == "groups"
    assert entries("account.groups_changed") == []
    with pytest.raises(ApplicationError) as info:
        account_groups_set(actor=Actor.for_user(staff), user=administrator, groups=[])
    assert info.value.code == "permission_denied"


def test_a_superuser_may_grant_any_group_and_their_own(client, superuser, staff):
    ops = Group.objects.create(name="Ops")
    client.force_login(superuser)
    joined = {
        "date_joined_0": f"{staff.date_joined:%Y-%m-%d}",
        "date_joined_1": f"{staff.date_joined:%H:%M:%S}",
    }
    response = client.post(
        change_url(staff), change_form(staff, groups=[ops.pk], is_superuser="on", **joined)
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.is_superuser and list(staff.groups.values_list("name", flat=True)) == ["Ops"]


# --- The Administrator role is a superuser's to give and take -----------------------------------


@pytest.fixture
def other_administrator(db):
    return UserFactory(username="otto_administrator", role=ADMINISTRATOR)


def add_account(client, username):
    response = client.post(
        reverse("admin:auth_user_add"),
        {
            "username": username,
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    return User.objects.get(username=username)


def names(user):
    return sorted(user.groups.values_list("name", flat=True))


def test_an_administrator_is_not_offered_the_administrator_role(admin_client, staff):
    page = admin_client.get(change_url(staff)).content.decode()
    assert f'value="{role(EDITOR).pk}"' in page
    assert f'value="{role(ADMINISTRATOR).pk}"' not in page


def test_an_administrator_cannot_grant_the_administrator_role(admin_client, staff):
    response = admin_client.post(change_url(staff), change_form(staff, groups=[role(ADMINISTRATOR).pk]))
    assert response.status_code == 200  # the form, with the error
    assert "Select a valid choice" in response.content.decode()
    assert names(staff) == [SUPPORT] and entries("account.groups_changed") == []


@pytest.mark.parametrize("name", [EDITOR, APPROVER, SUPPORT, AUDITOR])
def test_an_administrator_still_grants_and_removes_the_other_four_roles(admin_client, staff, name):
    admin_client.post(change_url(staff), change_form(staff, groups=[role(name).pk]))
    assert names(staff) == [name]
    admin_client.post(change_url(staff), change_form(staff, groups=[]))
    assert names(staff) == []


def test_an_administrator_cannot_grow_through_an_account_they_create(admin_client, administrator):
    """The reviewer's chain: a second account with the Administrator role and a known password,
    logged in as, gives its creator more roles. The role cannot be given, so the second account
    never reaches the accounts at all."""
    puppet = add_account(admin_client, "ada2")
    admin_client.post(
        change_url(puppet),
        change_form(puppet, is_staff="on", groups=[role(ADMINISTRATOR).pk, role(EDITOR).pk]),
    )
    assert names(puppet) == []
    admin_client.post(change_url(puppet), change_form(puppet, is_staff="on", groups=[role(EDITOR).pk]))
    assert names(puppet) == [EDITOR]
    as_puppet = Client()
    assert as_puppet.login(username="ada2", password=NEW_PASSWORD)
    response = as_puppet.post(
        change_url(administrator),
        change_form(administrator, groups=[role(ADMINISTRATOR).pk, role(EDITOR).pk]),
    )
    assert response.status_code == 403
    assert names(administrator) == [ADMINISTRATOR]
    assert not administrator.has_perm("contacts.record_opt_in")


def test_an_administrator_cannot_change_another_administrators_account(admin_client, other_administrator):
    page = admin_client.get(change_url(other_administrator))
    assert page.status_code == 200  # may look, read-only
    assert b'name="username"' not in page.content and b'name="groups"' not in page.content
    for form in (
        change_form(other_administrator, groups=[role(EDITOR).pk]),
        change_form(other_administrator, groups=[]),
        change_form(other_administrator, is_active=None),
        change_form(other_administrator, email="otto@evil.example"),
    ):
        assert admin_client.post(change_url(other_administrator), form).status_code == 403
    other_administrator.refresh_from_db()
    assert names(other_administrator) == [ADMINISTRATOR] and other_administrator.is_active
    assert other_administrator.email == "" and entries("account.groups_changed") == []


def test_an_administrator_cannot_reset_another_administrators_password(admin_client, other_administrator):
    """Else: reset it, log in as them, and give yourself any role from their account."""
    assert admin_client.get(password_url(other_administrator)).status_code == 403
    response = admin_client.post(
        password_url(other_administrator),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    other_administrator.refresh_from_db()
    assert other_administrator.check_password(PASSWORD)
    assert entries("account.password_reset") == []


def test_the_deactivate_action_refuses_another_administrator(admin_client, other_administrator, staff):
    response = admin_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "deactivate", "_selected_action": [other_administrator.pk, staff.pk]},
        follow=True,
    )
    assert any("only a superuser" in str(m) for m in response.context["messages"])
    other_administrator.refresh_from_db()
    staff.refresh_from_db()
    assert other_administrator.is_active and not staff.is_active


def test_the_account_services_refuse_the_administrator_role_to_an_administrator(
    administrator, other_administrator, staff
):
    actor = Actor.for_user(administrator)
    cases = [
        (
            lambda: account_groups_set(actor=actor, user=staff, groups=[role(ADMINISTRATOR)]),
            "administrator_role",
        ),
        (
            lambda: account_groups_set(actor=actor, user=other_administrator, groups=[]),
            "administrator_account",
        ),
        (
            lambda: account_password_reset(actor=actor, user=other_administrator, password=NEW_PASSWORD),
            "administrator_account",
        ),
        (lambda: account_deactivate(actor=actor, user=other_administrator), "administrator_account"),
    ]
    for call, code in cases:
        with pytest.raises(ApplicationError) as info:
            call()
        assert info.value.code == code
    staff.refresh_from_db()
    other_administrator.refresh_from_db()
    assert names(staff) == [SUPPORT] and names(other_administrator) == [ADMINISTRATOR]
    assert other_administrator.is_active and other_administrator.check_password(PASSWORD)
    assert entries("account.groups_changed") == [] and entries("account.password_reset") == []


def test_an_administrator_still_edits_their_own_name(admin_client, administrator):
    admin_client.post(change_url(administrator), change_form(administrator, first_name="Ada"))
    administrator.refresh_from_db()
    assert administrator.first_name == "Ada" and names(administrator) == [ADMINISTRATOR]


def test_a_superuser_grants_and_removes_the_administrator_role(client, superuser, staff, other_administrator):
    client.force_login(superuser)
    actor = Actor.for_user(superuser)
    account_groups_set(actor=actor, user=staff, groups=[role(SUPPORT), role(ADMINISTRATOR)])
    account_groups_set(actor=actor, user=other_administrator, groups=[role(EDITOR)])
    assert names(staff) == [ADMINISTRATOR, SUPPORT] and names(other_administrator) == [EDITOR]
    assert [e.details["after"] for e in entries("account.groups_changed")] == [
        [ADMINISTRATOR, SUPPORT],
        [EDITOR],
    ]
    page = client.get(change_url(staff)).content.decode()
    assert f'value="{role(ADMINISTRATOR).pk}"' in page


# --- The Group and Permission admins ----------------------------------------------------------


def test_an_administrator_cannot_edit_a_groups_permissions_or_rename_it(admin_client):
    auditor = role(AUDITOR)
    url = reverse("admin:auth_group_change", args=[auditor.pk])
    page = admin_client.get(url)
    assert page.status_code == 200 and b'name="name"' not in page.content  # read-only
    everything = list(Permission.objects.values_list("pk", flat=True))
    response = admin_client.post(url, {"name": "Auditor2", "permissions": everything})
    assert response.status_code == 403
    auditor.refresh_from_db()
    assert auditor.name == AUDITOR and not auditor.permissions.filter(codename="delete_user").exists()


def test_an_administrator_cannot_create_a_sixth_group(admin_client):
    url = reverse("admin:auth_group_add")
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"name": "Shadow admins"}).status_code == 403
    assert not Group.objects.filter(name="Shadow admins").exists()


def test_an_administrator_cannot_delete_a_role(admin_client):
    auditor = role(AUDITOR)
    url = reverse("admin:auth_group_delete", args=[auditor.pk])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:auth_group_changelist")
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [auditor.pk], "post": "yes"}
    )
    assert Group.objects.filter(name=AUDITOR).exists()


def test_the_permission_admin_is_not_there(admin_client):
    assert admin_client.get("/admin/auth/permission/").status_code == 404
    assert admin_client.post("/admin/auth/permission/add/", {"name": "x"}).status_code == 404


# --- Bulk actions on the user list -------------------------------------------------------------


def test_an_administrator_cannot_delete_accounts(admin_client, staff, superuser):
    changelist = reverse("admin:auth_user_changelist")
    assert b"delete_selected" not in admin_client.get(changelist).content
    admin_client.post(
        changelist, {"action": "delete_selected", "_selected_action": [staff.pk, superuser.pk], "post": "yes"}
    )
    assert User.objects.filter(pk__in=[staff.pk, superuser.pk]).count() == 2
    url = reverse("admin:auth_user_delete", args=[staff.pk])
    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403


def test_the_deactivate_action_refuses_superusers_and_oneself(admin_client, administrator, staff, superuser):
    changelist = reverse("admin:auth_user_changelist")
    response = admin_client.post(
        changelist,
        {"action": "deactivate", "_selected_action": [staff.pk, superuser.pk, administrator.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("superuser" in m for m in messages) and any("your own account" in m for m in messages)
    for user in (staff, superuser, administrator):
        user.refresh_from_db()
    assert not staff.is_active and superuser.is_active and administrator.is_active
    (entry,) = entries("account.deactivated")
    assert entry.object_id == str(staff.pk) and entry.actor_user == administrator


# --- Every account change is logged, and Auditors read it ----------------------------------------


def test_creating_an_account_is_logged_without_the_password(admin_client, administrator):
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newbie",
            "usable_password": "true",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert newbie.check_password(NEW_PASSWORD)
    (entry,) = entries("account.created")
    assert entry.actor_user == administrator and entry.object_id == str(newbie.pk)
    assert NEW_PASSWORD not in str(entry.details) and newbie.password not in str(entry.details)


def test_a_password_reset_is_logged_without_the_password(admin_client, administrator, staff):
    assert admin_client.get(password_url(staff)).status_code == 200
    response = admin_client.post(
        password_url(staff), {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password(NEW_PASSWORD)
    (entry,) = entries("account.password_reset")
    assert entry.actor_user == administrator and entry.object_id == str(staff.pk)
    assert entry.details == {"password_login": True}
    assert NEW_PASSWORD not in str(entry.details)


def test_a_password_reset_that_fails_validation_changes_and_logs_nothing(admin_client, staff):
    response = admin_client.post(
        password_url(staff), {"usable_password": "true", "password1": NEW_PASSWORD, "password2": "different"}
    )
    assert response.status_code == 200
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD) and entries("account.password_reset") == []


def test_disabling_password_login_is_a_logged_reset(admin_client, staff):
    response = admin_client.post(password_url(staff), {"usable_password": "false", "unset-password": "1"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert not staff.has_usable_password()
    assert entries("account.password_reset")[0].details == {"password_login": False}


def test_deactivating_from_the_change_form_is_logged(admin_client, staff):
    admin_client.post(change_url(staff), change_form(staff, is_active=None))
    staff.refresh_from_db()
    assert not staff.is_active
    assert len(entries("account.deactivated")) == 1
    admin_client.post(change_url(staff), change_form(staff, is_active="on"))
    assert len(entries("account.reactivated")) == 1


def test_other_changes_are_logged_by_field_name(admin_client, staff):
    admin_client.post(change_url(staff), change_form(staff, email="sam@example.com", is_staff=None))
    (entry,) = entries("account.changed")
    assert entry.details == {"fields": ["email", "is_staff"]}


def test_an_auditor_reads_the_account_log(client, administrator, auditor, staff):
    account_deactivate(actor=Actor.for_user(administrator), user=staff)
    client.force_login(auditor)
    html = client.get(reverse("admin:contacts_activitylogentry_changelist")).content.decode()
    assert "account.deactivated" in html


def test_the_services_refuse_an_account_that_may_not_manage_accounts(staff, administrator):
    with pytest.raises(ApplicationError) as info:
        account_password_reset(actor=Actor.for_user(staff), user=administrator, password=NEW_PASSWORD)
    assert info.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as info:
        account_deactivate(actor=Actor.for_user(staff), user=administrator)
    assert info.value.code == "permission_denied"
    administrator.refresh_from_db()
    assert administrator.is_active and check_password(PASSWORD, administrator.password)


def test_a_password_the_validators_refuse_is_refused_by_the_service(administrator, staff):
    with pytest.raises(ApplicationError) as info:
        account_password_reset(actor=Actor.for_user(administrator), user=staff, password="123")
    assert (info.value.code, info.value.field) == ("password_invalid", "password")
    staff.refresh_from_db()
    assert staff.check_password(PASSWORD)


@pytest.mark.parametrize("name", sorted(set(ROLES) - {ADMINISTRATOR}))
def test_no_other_role_changes_accounts(client, name, staff):
    """Auditors read accounts (their own test); no role but Administrator changes one."""
    client.force_login(UserFactory(role=name))
    assert client.get(change_url(staff)).status_code == (200 if name == AUDITOR else 403)
    assert client.post(change_url(staff), {"username": "renamed"}).status_code == 403
    assert client.get(password_url(staff)).status_code == 403
    assert (
        client.post(password_url(staff), {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code
        == 403
    )
    assert client.get(reverse("admin:auth_user_add")).status_code == 403


def test_a_superusers_page_says_why_it_is_read_only_and_offers_no_password_reset(admin_client, superuser):
    response = admin_client.get(change_url(superuser))
    page = response.content.decode()
    assert response.status_code == 200
    assert "only a superuser can change that account" in page
    assert password_url(superuser) not in page and 'href="../password/"' not in page


def test_a_refusal_is_a_page_that_says_why_not_a_bare_403(admin_client, superuser):
    response = admin_client.get(password_url(superuser))
    assert response.status_code == 403
    page = response.content.decode()
    assert "only a superuser can change that account" in page
    assert "Back to the start page" in page


def test_an_auditor_reads_the_accounts_and_their_roles_and_changes_nothing(client, auditor, staff, superuser):
    client.force_login(auditor)
    listing = client.get(reverse("admin:auth_user_changelist"))
    assert listing.status_code == 200
    assert "sam_staff" in listing.content.decode() and SUPPORT in listing.content.decode()
    page = client.get(change_url(staff))
    assert page.status_code == 200 and 'name="username"' not in page.content.decode()
    assert client.post(change_url(staff), {"username": "renamed"}).status_code == 403
    assert client.get(password_url(superuser)).status_code == 403
    staff.refresh_from_db()
    assert staff.username == "sam_staff"
