"""Who did something: a staff user, an API key (REST API issue), or the system itself.

Ledgers and logs record the actor as data (kind, user, reference, label) rather than as a foreign
key to every possible actor model, so lower apps never import higher ones and a row keeps its
meaning after a key is revoked.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actor:
    kind: str
    user: Any = None
    ref: str = ""
    label: str = ""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"

    @classmethod
    def for_user(cls, user) -> "Actor":
        return cls(kind=cls.USER, user=user, ref=str(user.pk), label=user.get_username())

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(kind=cls.SYSTEM, label=label)

    @property
    def is_staff_user(self) -> bool:
        return self.kind == self.USER
