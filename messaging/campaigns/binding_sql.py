"""The SQL side of bindings: "does this contact have a value for this variable?", per database.

``messaging.campaigns.bindings`` decides in Python what a contact's value is; the eligibility
query must predict the same thing for a million contacts in one statement, so each test here is
the exact SQL twin of a Python rule in that module (the tests run both on SQLite and PostgreSQL
and compare):

- text counts as empty when it is only whitespace — every character Python's ``str.isspace``
  knows (``WHITESPACE``), trimmed with ``btrim`` / ``trim`` and that same list;
- an attribute has a value when it is a JSON number, or a JSON string that is not empty after
  trimming; ``null``, true/false, lists and objects are no value;
- with a date format, only a string shaped ``YYYY-MM-DD`` is a value;
- for a coupon code, a value longer than ``max_length`` (after trimming) is no value.

Each test reads only the contact's own row (no subquery, no join), so a whole audience is one
scan of ``contacts_contact``.
"""

from __future__ import annotations

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F

# Every character Python strips with str.strip() (none lies above U+3000): the SQL trims exactly these.
WHITESPACE = "".join(chr(code) for code in range(0x3001) if chr(code).isspace())
ISO_DATE_REGEX = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ISO_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"


class _Present(Expression):
    """TRUE or FALSE (never NULL) for each contact: whether the value is there."""

    output_field = BooleanField()

    def __init__(self, *sources):
        super().__init__(output_field=BooleanField())
        self.sources = list(sources)

    def get_source_expressions(self):
        return self.sources

    def set_source_expressions(self, exprs):
        self.sources = list(exprs)

    def as_sql(self, compiler, connection):
        raise NotSupportedError("Campaign bindings need PostgreSQL or SQLite.")

    def _columns(self, compiler) -> tuple[list[str], list]:
        columns, params = [], []
        for source in self.sources:
            sql, source_params = compiler.compile(source)
            columns.append(sql)
            params.extend(source_params)
        return columns, params


class TextPresent(_Present):
    """Contact columns joined by one space (one column, or first and last name) hold text that is
    not only whitespace, and at most ``max_length`` characters long once trimmed."""

    def __init__(self, *fields: str, max_length: int | None = None):
        super().__init__(*(F(field) for field in fields))
        self.max_length = max_length

    def as_postgresql(self, compiler, connection):
        return self._sql(compiler, trim="btrim", length="char_length")

    def as_sqlite(self, compiler, connection):
        return self._sql(compiler, trim="trim", length="length")

    def _sql(self, compiler, *, trim: str, length: str):
        columns, column_params = self._columns(compiler)
        text = " || ' ' || ".join(f"COALESCE({column}, '')" for column in columns)
        trimmed = f"{trim}({text}, %s)"
        sql = f"({trimmed} <> ''"
        params = [*column_params, WHITESPACE]
        if self.max_length is not None:
            sql += f" AND {length}({trimmed}) <= %s"
            params += [*column_params, WHITESPACE, self.max_length]
        return sql + ")", params


class AttributePresent(_Present):
    """``Contact.attributes[key]`` holds a value: a number, or a string not only whitespace (with
    ``date_only``: a ``YYYY-MM-DD`` string; with ``max_length``: at most that long, trimmed)."""

    def __init__(self, key: str, *, date_only: bool = False, max_length: int | None = None):
        super().__init__(F("attributes"))
        self.key = key
        self.date_only = date_only
        self.max_length = max_length

    def as_postgresql(self, compiler, connection):
        (column,), column_params = self._columns(compiler)
        params: list = []

        def text() -> str:
            params.extend([*column_params, self.key])
            return f"({column} ->> %s)"

        def kind() -> str:
            params.extend([*column_params, self.key])
            return f"jsonb_typeof({column} -> %s)"

        kind_sql = kind()
        if self.date_only:
            number, string = "false", f"({text()} ~ %s)"
            params.append(ISO_DATE_REGEX)
        else:
            number = "true"
            if self.max_length is not None:
                number = f"(char_length({text()}) <= %s)"
                params.append(self.max_length)
            string = f"(btrim({text()}, %s) <> ''"
            params.append(WHITESPACE)
            if self.max_length is not None:
                string += f" AND char_length(btrim({text()}, %s)) <= %s"
                params.extend([WHITESPACE, self.max_length])
            string += ")"
        sql = f"(CASE {kind_sql} WHEN 'number' THEN {number} WHEN 'string' THEN {string} ELSE false END)"
        return sql, params

    def as_sqlite(self, compiler, connection):
        from django.db.models.fields.json import compile_json_path

        (column,), column_params = self._columns(compiler)
        path = compile_json_path([self.key])
        params: list = []

        def text() -> str:
            params.extend([*column_params, path])
            return f"json_extract({column}, %s)"

        def number() -> str:
            if self.date_only:
                return "0"
            if self.max_length is None:
                return "1"
            sql = f"(length({text()}) <= %s)"
            params.append(self.max_length)
            return sql

        params.extend([*column_params, path])
        kind_sql = f"json_type({column}, %s)"
        integer, real = number(), number()  # in the order they appear below
        if self.date_only:
            string = f"({text()} GLOB %s)"
            params.append(ISO_DATE_GLOB)
        else:
            string = f"(trim({text()}, %s) <> ''"
            params.append(WHITESPACE)
            if self.max_length is not None:
                string += f" AND length(trim({text()}, %s)) <= %s"
                params.extend([WHITESPACE, self.max_length])
            string += ")"
        sql = (
            f"(CASE {kind_sql} WHEN 'integer' THEN {integer} WHEN 'real' THEN {real} "
            f"WHEN 'text' THEN {string} ELSE 0 END)"
        )
        return sql, params
