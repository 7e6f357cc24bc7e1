"""The kinds of condition a segment rule can be, and the registry other apps add theirs to.

``contacts`` defines the conditions about contacts (``contacts.segments.kinds``). Conditions about
messages (received a message within N days; later, read or replied to a campaign) belong to
``messaging``, which ``contacts`` may not import: ``messaging`` registers them here from its
``AppConfig.ready`` and the engine treats them like its own. A kind is data plus two functions:
its fields (which the generic validator checks and the admin's editor draws), an optional
``check`` for what the fields alone cannot say, and ``compile``, which returns a ``Q`` over
``Contact`` — a condition never filters in Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Q

if TYPE_CHECKING:
    from contacts.segments.compiler import CompileContext
    from contacts.segments.rules import CheckContext

# The field types the generic validator knows, and the editor draws an input for.
TEXT, INT, DATE, CHOICE, CHOICES, REFERENCE, VALUE = (
    "text",
    "int",
    "date",
    "choice",
    "choices",
    "ref",
    "value",
)


class RuleProblem(Exception):
    """What is wrong with one condition; the validator adds where it is (the rule's path)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class FieldSpec:
    """One field of a condition: its JSON name, what it holds, and how the editor asks for it.

    ``choices`` is a function (choices can change: segments, lists, custom fields) returning
    ``[(value, label), ...]``. A ``choice``/``choices`` field must be one of them; on a ``text`` or
    ``ref`` (an id) field they only offer the editor a list, and the kind's ``check`` says what
    is wrong with a value (a custom field not declared, a segment archived). ``min``/``max``
    bound ints.
    """

    name: str
    label: str
    type: str
    required: bool = True
    choices: Callable[[], Sequence[tuple[Any, str]]] | None = None
    min: int | None = None
    max: int | None = None
    help: str = ""

    def for_editor(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "choices": [[value, label] for value, label in self.choices()] if self.choices else None,
            "min": self.min,
            "max": self.max,
            "help": self.help,
        }


@dataclass(frozen=True)
class ConditionKind:
    """A kind of condition: ``{"kind": name, <fields>}`` in a rule tree.

    ``check(values, context) -> values`` receives the fields already parsed by type and returns
    them, possibly normalised; it raises ``RuleProblem``. ``compile(values, context) -> Q`` must
    return a condition that is TRUE or FALSE for every contact, never NULL, so that a ``none``
    group (SQL ``NOT``) excludes exactly what the condition includes. ``describe(values)`` is the
    short reading shown in messages ("tag “vip”").
    """

    name: str
    label: str
    fields: tuple[FieldSpec, ...]
    compile: Callable[[dict, CompileContext], Q]
    check: Callable[[dict, CheckContext], dict] | None = None
    describe: Callable[[dict], str] | None = None
    help: str = ""

    def for_editor(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "help": self.help,
            "fields": [spec.for_editor() for spec in self.fields],
        }


_KINDS: dict[str, ConditionKind] = {}


def register(kind: ConditionKind) -> None:
    """Add a kind (idempotent for the same object; a second, different kind of one name is a bug)."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing is not kind:
        raise ValueError(f"A segment condition kind named {kind.name!r} is already registered.")
    _KINDS[kind.name] = kind


def get_kind(name: str) -> ConditionKind | None:
    _load_builtins()
    return _KINDS.get(name)


def all_kinds() -> list[ConditionKind]:
    _load_builtins()
    return list(_KINDS.values())


def _load_builtins() -> None:
    # The contacts kinds register themselves when their module is first imported; importing it
    # here (not at the top) keeps this module free of models, so any app can import it early.
    import contacts.segments.kinds  # noqa: F401
