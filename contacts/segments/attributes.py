"""Conditions on custom fields: typed comparisons over ``Contact.attributes`` (a JSON object).

Values live in the JSON as their type (``AttributeDefinition``): numbers as JSON numbers, dates as
``YYYY-MM-DD`` strings, booleans as true/false, text as strings. A contact's value may still be of
another type — the contact form takes any JSON — so every comparison treats a value of the wrong
type as not set, and none can fail on one. That is why this is one expression with SQL per
database rather than ``Cast(KeyTextTransform(...))``: a cast is not guarded by the ``AND``
before it (the planner may evaluate it first), so a single "abc" stored under a number key would
make every count over that key fail. On PostgreSQL numbers compare through a JSON path
(``attributes @@ 'strict $."orders" > 3'``: numbers as numbers, any other type "unknown"), the
rest after a ``jsonb_typeof`` test; on SQLite after a ``json_type`` test. Dates compare as their
ISO text (a fixed-width ``YYYY-MM-DD`` orders as dates, and comparing text cannot fail on a
malformed day such as 2024-02-30 the way a cast to ``date`` does).

Every test is TRUE or FALSE, never NULL (a missing key is "not set"), so ``none`` groups and
``not_equals`` (the exact complement of ``equals``: a contact without the value matches it)
negate it safely.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation

from django.db import NotSupportedError
from django.db.models import BooleanField, Expression, F, Q
from django.db.models.fields.json import compile_json_path

from contacts.models import AttributeType
from contacts.segments.registry import RuleProblem

OPERATOR_LABELS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "gt": "greater than",
    "lt": "less than",
    "gte": "at least",
    "lte": "at most",
    "in": "is one of",
    "is_set": "is set",
    "is_not_set": "is not set",
}
# The operators that fit each type (contains only on text, no ordering of text or yes/no).
OPERATORS = {
    AttributeType.TEXT: ("equals", "not_equals", "contains", "in", "is_set", "is_not_set"),
    AttributeType.NUMBER: ("equals", "not_equals", "gt", "lt", "gte", "lte", "in", "is_set", "is_not_set"),
    AttributeType.DATE: ("equals", "not_equals", "gt", "lt", "gte", "lte", "in", "is_set", "is_not_set"),
    AttributeType.BOOLEAN: ("equals", "not_equals", "is_set", "is_not_set"),
}
NO_VALUE = ("is_set", "is_not_set")
MAX_IN_VALUES = 1000
MAX_TEXT = 500
_COMPARISON_SQL = {"equals": "=", "gt": ">", "lt": "<", "gte": ">=", "lte": "<="}
_JSONPATH_COMPARISON = {**_COMPARISON_SQL, "equals": "=="}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOLEAN_WORDS = {"true": True, "yes": True, "false": False, "no": False}


def parse_value(attribute_type: str, raw, *, key: str):
    """The rule's value as its type, normalised for storage; RuleProblem saying why it is not."""
    if attribute_type == AttributeType.NUMBER:
        return _number(raw, key=key)
    if attribute_type == AttributeType.DATE:
        if isinstance(raw, str) and _ISO_DATE.fullmatch(raw.strip()):
            try:
                return date.fromisoformat(raw.strip()).isoformat()
            except ValueError:
                pass
        raise RuleProblem(
            f"{_shown(raw)} is not a date: “{key}” holds dates such as 2025-03-31.", field="value"
        )
    if attribute_type == AttributeType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _BOOLEAN_WORDS:
            return _BOOLEAN_WORDS[raw.strip().lower()]
        raise RuleProblem(f"{_shown(raw)} is not yes or no: “{key}” holds true or false.", field="value")
    # Text: a number typed for a text field is the same text ("4711").
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise RuleProblem(f"{_shown(raw)} is not text.", field="value")
    text = str(raw).strip()
    if not text:
        raise RuleProblem("The value is empty: to find contacts without it, use “is not set”.", field="value")
    if len(text) > MAX_TEXT:
        raise RuleProblem(f"The value is longer than {MAX_TEXT} characters.", field="value")
    return text


def _number(raw, *, key: str) -> int | float:
    if isinstance(raw, bool):
        raise RuleProblem(f"{_shown(raw)} is not a number: “{key}” holds numbers.", field="value")
    try:
        number = Decimal(str(raw).strip()) if isinstance(raw, str | int | float) else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise RuleProblem(
            f"{_shown(raw)} is not a number: “{key}” holds numbers such as 3 or 4.5.", field="value"
        )
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    if math.isinf(as_float):
        raise RuleProblem(f"{_shown(raw)} is too large a number.", field="value")
    return as_float


def _shown(raw) -> str:
    text = raw if isinstance(raw, str) else repr(raw)
    return f"“{text[:60]}”"


def attribute_q(*, key: str, attribute_type: str, operator: str, value=None) -> Q:
    """The condition as a Q; ``not_equals`` and ``is_not_set`` are the negations of their pair."""
    if operator == "is_set":
        return Q(AttributeTest(key, attribute_type))
    if operator == "is_not_set":
        return ~Q(AttributeTest(key, attribute_type))
    if operator == "not_equals":
        return ~attribute_q(key=key, attribute_type=attribute_type, operator="equals", value=value)
    values = tuple(value) if operator == "in" else (value,)
    return Q(AttributeTest(key, attribute_type, operator, values))


class AttributeTest(Expression):
    """TRUE when the contact's ``attributes[key]`` holds a value of the type (and, with an operator,
    compares so with the values); FALSE otherwise, never NULL."""

    output_field = BooleanField()

    def __init__(self, key: str, attribute_type: str, operator: str | None = None, values: tuple = ()):
        super().__init__(output_field=BooleanField())
        self.key = key
        self.attribute_type = attribute_type
        self.operator = operator
        self.values = tuple(values)
        self.source = F("attributes")

    def get_source_expressions(self):
        return [self.source]

    def set_source_expressions(self, exprs):
        (self.source,) = exprs

    def as_sql(self, compiler, connection):
        raise NotSupportedError("Segment conditions on custom fields need PostgreSQL or SQLite.")

    def as_postgresql(self, compiler, connection):
        column, params = compiler.compile(self.source)
        return self._sql(_PostgresJSON(column, self.key), params)

    def as_sqlite(self, compiler, connection):
        column, params = compiler.compile(self.source)
        return self._sql(_SQLiteJSON(column, self.key), params)

    def _sql(self, dialect, column_params) -> tuple[str, list]:
        sql = _Builder(column_params)
        if self.operator is None:
            test = dialect.present(self.attribute_type, sql)
        else:
            test = dialect.compare(self.attribute_type, self.operator, self.values, sql)
        return sql.finish(f"COALESCE(({test}), false)")


class _Builder:
    """Collects the parameters in the order their placeholders appear in the SQL text."""

    def __init__(self, column_params):
        self.column_params = list(column_params)
        self.params: list = []

    def column(self, column: str) -> str:
        self.params.extend(self.column_params)
        return column

    def param(self, value) -> str:
        self.params.append(value)
        return "%s"

    def finish(self, sql: str) -> tuple[str, list]:
        return sql, self.params


def _plain_number(value) -> str:
    """A number as a JSON path literal: digits and a point, never an exponent."""
    return format(Decimal(str(value)), "f")


class _PostgresJSON:
    """``compare`` returns a test that is TRUE only for a value of the type that compares so, and
    that cannot fail on a value of another type (it is NULL or FALSE there)."""

    def __init__(self, column: str, key: str):
        self._column, self.key = column, key

    def value(self, sql: _Builder) -> str:
        return f"({sql.column(self._column)} -> {sql.param(self.key)})"

    def text(self, sql: _Builder) -> str:
        return f"({sql.column(self._column)} ->> {sql.param(self.key)})"

    def present(self, attribute_type: str, sql: _Builder) -> str:
        if attribute_type == AttributeType.NUMBER:
            return f"jsonb_typeof({self.value(sql)}) = 'number'"
        if attribute_type == AttributeType.BOOLEAN:
            return f"jsonb_typeof({self.value(sql)}) = 'boolean'"
        if attribute_type == AttributeType.DATE:
            return (
                f"jsonb_typeof({self.value(sql)}) = 'string'"
                f" AND {self.text(sql)} ~ '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$'"
            )
        return (
            f"jsonb_typeof({self.value(sql)}) = 'number'"
            f" OR (jsonb_typeof({self.value(sql)}) = 'string' AND {self.text(sql)} <> '')"
        )

    def compare(self, attribute_type: str, operator: str, values: tuple, sql: _Builder) -> str:
        if attribute_type == AttributeType.BOOLEAN:
            return f"{self.value(sql)} = {sql.param('true' if values[0] else 'false')}::jsonb"
        if attribute_type == AttributeType.NUMBER:
            # A JSON path compares numbers as numbers without a cast, and a value of another type
            # (text, yes/no, a list) compares as "unknown" (NULL) instead of failing a cast; it is
            # also the fastest form measured (bench/bench_segments.py).
            target = f"$.{json.dumps(self.key)}"
            symbol = _JSONPATH_COMPARISON[operator if operator != "in" else "equals"]
            path = " || ".join(f"{target} {symbol} {_plain_number(v)}" for v in values)
            return f"{sql.column(self._column)} @@ {sql.param('strict ' + path)}::jsonpath"
        present = self.present(attribute_type, sql)
        if attribute_type == AttributeType.DATE:
            subject, wrap = f'{self.text(sql)} COLLATE "C"', sql.param
        else:
            subject, wrap = f"lower({self.text(sql)})", lambda v: sql.param(v.lower())
            if operator == "contains":
                return f"({present}) AND strpos({subject}, {wrap(values[0])}) > 0"
        if operator == "in":
            return f"({present}) AND {subject} IN ({', '.join(wrap(v) for v in values)})"
        return f"({present}) AND {subject} {_COMPARISON_SQL[operator]} {wrap(values[0])}"


class _SQLiteJSON:
    def __init__(self, column: str, key: str):
        self._column, self.path = column, compile_json_path([key])

    def json_type(self, sql: _Builder) -> str:
        return f"json_type({sql.column(self._column)}, {sql.param(self.path)})"

    def text(self, sql: _Builder) -> str:
        return f"json_extract({sql.column(self._column)}, {sql.param(self.path)})"

    def present(self, attribute_type: str, sql: _Builder) -> str:
        if attribute_type == AttributeType.NUMBER:
            return f"{self.json_type(sql)} IN ('integer', 'real')"
        if attribute_type == AttributeType.BOOLEAN:
            return f"{self.json_type(sql)} IN ('true', 'false')"
        if attribute_type == AttributeType.DATE:
            return (
                f"{self.json_type(sql)} = 'text'"
                f" AND {self.text(sql)} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
            )
        return (
            f"{self.json_type(sql)} IN ('integer', 'real')"
            f" OR ({self.json_type(sql)} = 'text' AND {self.text(sql)} <> '')"
        )

    def compare(self, attribute_type: str, operator: str, values: tuple, sql: _Builder) -> str:
        if attribute_type == AttributeType.BOOLEAN:
            return f"{self.json_type(sql)} = {sql.param('true' if values[0] else 'false')}"
        present = self.present(attribute_type, sql)
        if attribute_type in (AttributeType.NUMBER, AttributeType.DATE):
            subject, wrap = self.text(sql), sql.param
        else:
            subject, wrap = f"lower({self.text(sql)})", lambda v: sql.param(v.lower())
            if operator == "contains":
                return f"({present}) AND instr({subject}, {wrap(values[0])}) > 0"
        if operator == "in":
            return f"({present}) AND {subject} IN ({', '.join(wrap(v) for v in values)})"
        return f"({present}) AND {subject} {_COMPARISON_SQL[operator]} {wrap(values[0])}"
