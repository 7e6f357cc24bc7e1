"""Abstract building blocks shared by the apps: actor columns and append-only rows."""

from django.conf import settings
from django.db import models
from django.db.models.constants import OnConflict

from core.actors import Actor
from core.errors import ApplicationError


class AppendOnlyError(ApplicationError):
    def __init__(self, model_name: str):
        super().__init__(
            f"{model_name} records are append-only: they cannot be changed or deleted.",
            code="append_only",
        )


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses every bulk write that could rewrite history.

    The async forms (``aupdate``, ``adelete``, ``abulk_create``…) call these. ``_update`` is what
    ``Model.save`` would use for an UPDATE and ``_raw_delete`` what the deletion collector uses for a
    fast delete; both reach rows through the base manager, which is this one (AppendOnlyModel).
    """

    def _refuse(self, *args, **kwargs):
        raise AppendOnlyError(self.model._meta.verbose_name)

    update = _refuse
    _update = _refuse
    delete = _refuse
    _raw_delete = _refuse
    bulk_update = _refuse
    update_or_create = _refuse

    def bulk_create(
        self,
        objs,
        batch_size=None,
        ignore_conflicts=False,
        update_conflicts=False,
        update_fields=None,
        unique_fields=None,
    ):
        """Inserts only. ``update_conflicts`` (an upsert: INSERT ... ON CONFLICT DO UPDATE) rewrites
        the row already there, so it is refused; ``ignore_conflicts`` leaves that row as it is."""
        if update_conflicts:
            self._refuse()
        return super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )

    def _insert(
        self,
        objs,
        fields,
        returning_fields=None,
        raw=False,
        using=None,
        on_conflict=None,
        update_fields=None,
        unique_fields=None,
    ):
        # Every insert passes here (save, create, bulk_create): no route may turn one into an upsert.
        if on_conflict == OnConflict.UPDATE:
            self._refuse()
        return super()._insert(
            objs,
            fields,
            returning_fields=returning_fields,
            raw=raw,
            using=using,
            on_conflict=on_conflict,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )


class AppendOnlyModel(models.Model):
    """A row that is written once. Triggers back this up in the database (core.db): on PostgreSQL
    against UPDATE, DELETE and TRUNCATE, on SQLite against UPDATE."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        # Django's own paths (related objects, save's UPDATE, the deletion collector) use the base
        # manager, a plain Manager by default; subclasses find this name through their parent even
        # when they declare a Meta of their own.
        base_manager_name = "objects"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(self._meta.verbose_name)
        kwargs["force_insert"] = True
        return super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(self._meta.verbose_name)


class ActorKind(models.TextChoices):
    USER = Actor.USER, "Staff user"
    API_KEY = Actor.API_KEY, "API key"
    SYSTEM = Actor.SYSTEM, "System"


class ActorFields(models.Model):
    """Who recorded a row. The label is a snapshot, so the row reads the same years later."""

    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_ref = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=150)

    class Meta:
        abstract = True

    def set_actor(self, actor: Actor) -> None:
        self.actor_kind = actor.kind
        self.actor_user = actor.user if actor.kind == Actor.USER else None
        self.actor_ref = actor.ref
        self.actor_label = actor.label

    @property
    def actor_display(self) -> str:
        return self.actor_label or self.get_actor_kind_display()
