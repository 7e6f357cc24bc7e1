"""Rules → one ``Q`` over ``Contact``: the whole tree becomes one SQL query.

Groups become AND (``all``), OR (``any``) and NOT(OR) (``none``) of their conditions; each kind
compiles its own condition (``contacts.segments.kinds``, and kinds ``messaging`` registers). A
condition that includes another segment compiles that segment's *current* rules inline, so the
database sees one query whatever the nesting. Before building the query the compiler may read two
small tables, once each and only if a rule needs them: the custom fields' types and the
segments' rules (``in_segment``). Merged-away contacts are never members (``members_q``).
"""

from __future__ import annotations

import operator
from datetime import datetime
from functools import cached_property, reduce

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from contacts.models import AttributeDefinition, Segment, TestNumber
from contacts.segments.registry import get_kind
from contacts.segments.rules import MAX_EXPANDED_CONDITIONS, MAX_INCLUSION_DEPTH
from core.errors import ApplicationError


class CompileContext:
    """One compilation: its clock (every "within N days" counts from the same instant), the custom
    fields' types and the segments' rules, and the segments being compiled (a cycle guard)."""

    def __init__(self, *, now: datetime | None = None, segment_id: int | None = None):
        self.now = now or timezone.now()
        self._stack: list[int] = [segment_id] if segment_id is not None else []
        self._outermost = len(self._stack)
        self.conditions = 0

    @cached_property
    def _attribute_types(self) -> dict[str, str]:
        return dict(AttributeDefinition.objects.values_list("key", "type"))

    @cached_property
    def _segments(self) -> dict[int, tuple[str, dict]]:
        return {pk: (name, rules) for pk, name, rules in Segment.objects.values_list("pk", "name", "rules")}

    def attribute_type(self, key: str) -> str:
        attribute_type = self._attribute_types.get(key)
        if attribute_type is None:
            raise ApplicationError(
                f"The segment compares the custom field “{key}”, which is no longer declared.",
                code="segment_attribute_missing",
            )
        return attribute_type

    def compile_segment(self, segment_id: int) -> Q:
        """Another segment's current rules, inline."""
        if segment_id in self._stack:
            # Saving refuses cycles; two edits racing could still leave one, so never recurse forever.
            raise ApplicationError(
                "These segments include each other; edit one of them to break the circle.",
                code="segment_cycle",
            )
        if len(self._stack) - self._outermost >= MAX_INCLUSION_DEPTH:
            raise ApplicationError(
                f"The segment includes segments more than {MAX_INCLUSION_DEPTH} deep.",
                code="segment_too_deep",
            )
        if segment_id not in self._segments:
            raise ApplicationError(
                f"The segment includes segment #{segment_id}, which does not exist.", code="segment_missing"
            )
        self._stack.append(segment_id)
        try:
            return compile_tree(self._segments[segment_id][1], self)
        finally:
            self._stack.pop()


def compile_tree(tree: dict, context: CompileContext) -> Q:
    """A validated tree as a Q that is TRUE or FALSE for every contact."""
    parts = [
        compile_tree(node, context) if "op" in node else _compile_condition(node, context)
        for node in tree["rules"]
    ]
    if tree["op"] == "all":
        return reduce(operator.and_, parts)
    combined = reduce(operator.or_, parts)
    return ~combined if tree["op"] == "none" else combined


def _compile_condition(node: dict, context: CompileContext) -> Q:
    if node.get("kind") != "in_segment":
        # Saving checks the expansion; an included segment edited since can still grow it.
        context.conditions += 1
        if context.conditions > MAX_EXPANDED_CONDITIONS:
            raise ApplicationError(
                f"With the segments it includes written in place, this segment has more than "
                f"{MAX_EXPANDED_CONDITIONS:,} conditions: a segment it includes has grown since it was "
                "saved. Include fewer segments, or each of them once.",
                code="segment_too_large",
            )
    kind = get_kind(node["kind"])
    if kind is None:
        # A kind its app no longer registers: refuse rather than silently widen the audience.
        raise ApplicationError(
            f"The segment uses “{node['kind']}”, a condition this system does not know.",
            code="segment_kind_unknown",
        )
    values = {name: value for name, value in node.items() if name != "kind"}
    return kind.compile(values, context)


def members_q(tree: dict, *, segment_id: int | None = None, now: datetime | None = None) -> Q:
    """Who the rules select: live contacts for whom the tree holds.

    Never merged-away rows, and never a staff test number (its sends are tests, not audience).
    """
    context = CompileContext(now=now, segment_id=segment_id)
    not_a_test_number = ~Exists(TestNumber.objects.filter(contact_id=OuterRef("pk")))
    return Q(merged_into__isnull=True) & Q(not_a_test_number) & compile_tree(tree, context)
