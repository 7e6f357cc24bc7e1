"""Abstract building blocks shared by the apps: actor columns and append-only rows."""

from django.conf import settings
from django.db import models

from core.actors import Actor
from core.errors import ApplicationError


class AppendOnlyError(ApplicationError):
    def __init__(self, model_name: str):
        super().__init__(
            f"{model_name} records are append-only: they cannot be changed or deleted.",
            code="append_only",
        )


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses every bulk write that could rewrite history."""

    def _refuse(self, *args, **kwargs):
        raise AppendOnlyError(self.model._meta.verbose_name)

    update = _refuse
    _update = _refuse
    delete = _refuse
    bulk_update = _refuse
    update_or_create = _refuse


class AppendOnlyModel(models.Model):
    """A row that is written once. On PostgreSQL, triggers back this up (core.db)."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

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
