"""Staff accounts: who may change which account, and the changes themselves, each in the activity log.

Administrators manage staff accounts within the other four roles (``GRANTABLE_ROLES``). They
cannot change a superuser's account or another Administrator's (not its password, groups, flags or
names), grant or remove the Administrator role, grant superuser status or individual permissions,
grant a group outside the roles, or change their own groups or flags — otherwise
``auth.change_user`` would let them reset the superuser's password, add themselves to every group,
or reach the same through a second account: one they create and give the Administrator role, or a
colleague's whose password they reset, logged in as, then used to change their own groups. A
superuser may do all of it. Every change is logged (``account.*``), never the password.

The rules live here rather than only in the admin so that any later entry (an API, a command)
refuses the same things: :func:`account_refusal` answers the question, the services enforce it.

An app of its own above ``contacts``, whose activity log it writes (``core`` imports no app).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction

from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError
from core.roles import ADMINISTRATOR, ROLES

CHANGE_PERMISSION = "auth.change_user"
ADD_PERMISSION = "auth.add_user"
# Changed on your own account, these would let you keep or widen your own access.
ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser")
LOGGED_FIELDS = ("username", "first_name", "last_name", "email", "is_staff")
# The roles an Administrator gives and takes away; the Administrator role is a superuser's to give.
GRANTABLE_ROLES = tuple(name for name in ROLES if name != ADMINISTRATOR)


def holds_administrator_role(user: AbstractUser) -> bool:
    return user.groups.filter(name=ADMINISTRATOR).exists()


def account_refusal(
    *,
    actor: AbstractUser,
    target: AbstractUser | None,
    touches_access: bool = False,
    field: str | None = None,
) -> ApplicationError | None:
    """Why ``actor`` may not change ``target`` (None: they may). ``target`` None is a new account.

    ``touches_access``: the change concerns groups or the active/staff flags, which nobody but a
    superuser changes on their own account. ``field`` names the field the refusal is about.
    """
    if actor.is_superuser:
        return None
    if not actor.is_active or not actor.has_perm(CHANGE_PERMISSION if target is not None else ADD_PERMISSION):
        return ApplicationError(
            "Only an Administrator can manage staff accounts.", code="permission_denied", field=None
        )
    if target is not None and target.is_superuser:
        return ApplicationError(
            f"{target.get_username()} is a superuser: only a superuser can change that account.",
            code="superuser_account",
            field=field,
        )
    if target is not None and target.pk != actor.pk and holds_administrator_role(target):
        # Another Administrator's password would let the actor log in as them and change the
        # actor's own groups from there; their groups and flags are the role's, a superuser's.
        return ApplicationError(
            f"{target.get_username()} is an Administrator: only a superuser can change that account.",
            code="administrator_account",
            field=field,
        )
    if target is not None and touches_access and target.pk == actor.pk:
        return ApplicationError(
            "You cannot change your own groups or deactivate your own account; ask another Administrator.",
            code="own_account",
            field=field,
        )
    return None


def _refuse(actor: Actor, target, *, touches_access: bool = False, field: str | None = None) -> None:
    if not actor.is_staff_user:
        raise ApplicationError("Only a staff user can manage staff accounts.", code="permission_denied")
    refusal = account_refusal(actor=actor.user, target=target, touches_access=touches_access, field=field)
    if refusal is not None:
        raise refusal


def _names(groups: Iterable[Group]) -> list[str]:
    return sorted(g.name for g in groups)


def account_create(*, actor: Actor, user: AbstractUser) -> AbstractUser:
    """Save a new account (its password already hashed on it) and log it. Only a superuser makes
    a superuser or hands out individual permissions."""
    _refuse(actor, None)
    if user.is_superuser and not actor.user.is_superuser:
        raise ApplicationError(
            "Only a superuser can create a superuser.", code="superuser_account", field="is_superuser"
        )
    with transaction.atomic():
        user.save()
        log_activity(
            actor=actor,
            action="account.created",
            obj=user,
            details={
                "username": user.get_username(),
                "is_staff": user.is_staff,
                "password_login": user.has_usable_password(),
            },
        )
    return user


def account_update(*, actor: Actor, user: AbstractUser) -> AbstractUser:
    """Save the changed fields of an existing account and log them: deactivation and reactivation
    each as their own entry, the rest as one entry naming the fields (never their password)."""
    User = get_user_model()
    with transaction.atomic():
        before = User.objects.select_for_update().get(pk=user.pk)
        changed_access = [f for f in ACCESS_FIELDS if getattr(before, f) != getattr(user, f)]
        _refuse(actor, before, touches_access=bool(changed_access), field=(changed_access or [None])[0])
        if before.is_superuser != user.is_superuser and not actor.user.is_superuser:
            raise ApplicationError(
                "Only a superuser can grant or remove superuser status.",
                code="superuser_account",
                field="is_superuser",
            )
        user.save()
        if before.is_active != user.is_active:
            log_activity(
                actor=actor,
                action="account.deactivated" if not user.is_active else "account.reactivated",
                obj=user,
            )
        changed = [f for f in (*LOGGED_FIELDS, "is_superuser") if getattr(before, f) != getattr(user, f)]
        if changed:
            log_activity(actor=actor, action="account.changed", obj=user, details={"fields": changed})
    return user


def account_groups_set(*, actor: Actor, user: AbstractUser, groups: Iterable[Group]) -> list[str]:
    """Give ``user`` exactly these roles; logged with the groups before and after.

    An Administrator grants only the four roles other than Administrator; a group they may not
    grant that the account already has (one a superuser gave) stays, since they could neither see
    nor grant it. Returns the groups after.
    """
    groups = list(groups)
    _refuse(actor, user, touches_access=True, field="groups")
    if not actor.user.is_superuser:
        outside = _names(g for g in groups if g.name not in ROLES)
        if outside:
            raise ApplicationError(
                f"{', '.join(outside)} is not one of the roles ({', '.join(ROLES)}); only a superuser "
                "can grant other groups.",
                code="group_not_a_role",
                field="groups",
            )
        if any(g.name == ADMINISTRATOR for g in groups):
            raise ApplicationError(
                "Only a superuser can grant or remove the Administrator role.",
                code="administrator_role",
                field="groups",
            )
    with transaction.atomic():
        current = list(user.groups.all())
        kept = [] if actor.user.is_superuser else [g for g in current if g.name not in GRANTABLE_ROLES]
        after = {g.pk: g for g in [*groups, *kept]}.values()
        before_names, after_names = _names(current), _names(after)
        if before_names != after_names:
            user.groups.set(list(after))
            log_activity(
                actor=actor,
                action="account.groups_changed",
                obj=user,
                details={"before": before_names, "after": after_names},
            )
    return after_names


def account_permissions_set(
    *, actor: Actor, user: AbstractUser, permissions: Iterable[Permission]
) -> list[str]:
    """Individual permissions, outside any role: a superuser's tool only. Logged before and after."""
    if not (actor.is_staff_user and actor.user.is_superuser):
        raise ApplicationError(
            "Only a superuser can grant individual permissions.", code="permission_denied", field=None
        )

    def names(perms):
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in perms)

    permissions = list(permissions)
    with transaction.atomic():
        before = names(user.user_permissions.select_related("content_type"))
        after = names(permissions)
        if before != after:
            user.user_permissions.set(permissions)
            log_activity(
                actor=actor,
                action="account.permissions_changed",
                obj=user,
                details={"before": before, "after": after},
            )
    return after


def account_password_reset(*, actor: Actor, user: AbstractUser, password: str | None) -> AbstractUser:
    """Set a new password (checked by the password validators), or with None turn password login
    off. Logged without the password, which is only ever stored hashed."""
    _refuse(actor, user)
    if password is not None:
        try:
            password_validation.validate_password(password, user)
        except ValidationError as exc:
            raise ApplicationError(" ".join(exc.messages), code="password_invalid", field="password") from exc
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(update_fields=["password"])
        log_activity(
            actor=actor,
            action="account.password_reset",
            obj=user,
            details={"password_login": password is not None},
        )
    return user


def account_deactivate(*, actor: Actor, user: AbstractUser) -> AbstractUser:
    """Deactivate an account: it can no longer log in; its history stays (accounts are never deleted)."""
    _refuse(actor, user, touches_access=True, field="is_active")
    User = get_user_model()
    with transaction.atomic():
        if User.objects.filter(pk=user.pk, is_active=True).update(is_active=False) == 1:
            log_activity(actor=actor, action="account.deactivated", obj=user)
    user.is_active = False
    return user
