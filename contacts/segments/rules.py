"""The rule tree's shape, and the validation that says which rule is wrong and why.

A tree is a group ``{"op": "all" | "any" | "none", "rules": [node, ...]}``; a node is a group or
a condition ``{"kind": <registered kind>, <its fields>}`` (docs/segments.md). Validation checks
every node, returns the tree normalised (values parsed to their type, lists de-duplicated) and
refuses the first problem with a ``RuleError`` that names the rule by its position — "Rule 2 ›
rule 1 (attribute “age”): …" — and carries the path (``[1, 0]``, zero-based) so the editor can mark
it. It also refuses a segment that would include itself through others (a cycle).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from contacts.models import AttributeDefinition, ContactList, Segment, Tag
from contacts.segments.registry import (
    CHOICE,
    CHOICES,
    DATE,
    INT,
    REFERENCE,
    TEXT,
    VALUE,
    ConditionKind,
    FieldSpec,
    RuleProblem,
    all_kinds,
    get_kind,
)
from core.errors import ApplicationError

GROUP_OPS = {"all": "all of", "any": "any of", "none": "none of"}
# Bounds that keep the compiled SQL reasonable (and a pasted tree from being a denial of service).
MAX_DEPTH = 6
MAX_NODES = 200
MAX_CHOICES = 1000
MAX_TEXT = 200
# Segments including segments including segments…: each one is compiled inline into the query.
MAX_INCLUSION_DEPTH = 5
# Conditions once every included segment is written in place: a segment that includes another
# 40 times, which includes another 40 times, would otherwise compile to millions of conditions.
MAX_EXPANDED_CONDITIONS = 1000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RuleError(ApplicationError):
    """A refused rule tree: ``path`` is where (indices from the top group), ``rule_field`` which field."""

    def __init__(self, message: str, *, path: list[int], rule_field: str | None = None):
        super().__init__(
            message,
            code="invalid_rule",
            field="rules",
            details={"path": list(path), "rule_field": rule_field},
        )
        self.path = list(path)
        self.rule_field = rule_field


@dataclass(frozen=True)
class SegmentInfo:
    name: str
    rules: dict
    archived: bool


class CheckContext:
    """What validation reads from the database: each thing once, and only if a rule needs it."""

    def __init__(self, *, segment_id: int | None = None):
        self.segment_id = segment_id
        self._tags: dict[str, bool] = {}
        self._lists: dict[int, bool] = {}

    @cached_property
    def _attribute_types(self) -> dict[str, str]:
        return dict(AttributeDefinition.objects.values_list("key", "type"))

    def attribute_type(self, key: str) -> str | None:
        return self._attribute_types.get(key)

    def tag_exists(self, name: str) -> bool:
        if name.lower() not in self._tags:
            self._tags[name.lower()] = Tag.objects.filter(name__iexact=name).exists()
        return self._tags[name.lower()]

    def list_exists(self, list_id: int) -> bool:
        if list_id not in self._lists:
            self._lists[list_id] = ContactList.objects.filter(pk=list_id).exists()
        return self._lists[list_id]

    @cached_property
    def segments(self) -> dict[int, SegmentInfo]:
        # Segments are few (tens, hundreds); one read serves every reference and the cycle check.
        return {
            pk: SegmentInfo(name, rules, archived)
            for pk, name, rules, archived in Segment.objects.values_list("pk", "name", "rules", "archived")
        }

    def segment(self, segment_id: int) -> SegmentInfo | None:
        return self.segments.get(segment_id)


def validate_rules(tree, *, segment_id: int | None = None) -> dict:
    """The tree, checked and normalised; ``RuleError`` at the first problem.

    ``segment_id`` is the segment the rules are for (None for a new one): it may not include
    itself, directly or through the segments it includes.
    """
    context = CheckContext(segment_id=segment_id)
    if not isinstance(tree, dict) or "op" not in tree:
        raise RuleError(
            'The rules must be a group: {"op": "all", "rules": [ ... ]} (see the example below the editor).',
            path=[],
        )
    counter = [0]
    cleaned = _group(tree, path=[], depth=1, context=context, counter=counter)
    if segment_id is not None:
        _refuse_cycles(cleaned, context)
    _refuse_deep_inclusion(cleaned, context)
    _refuse_large_expansion(cleaned, context)
    return cleaned


def where(path: list[int], node=None) -> str:
    """'Rule 2 › rule 1 (attribute “age”)': a rule named by its place, as the editor numbers them."""
    if not path:
        return "The rules"
    text = " › ".join(f"rule {index + 1}" for index in path)
    text = text[0].upper() + text[1:]
    what = _what(node)
    return f"{text} ({what})" if what else text


def _what(node) -> str:
    if not isinstance(node, dict):
        return ""
    if "op" in node:
        op = node.get("op")
        return f"group “{GROUP_OPS[op]}”" if op in GROUP_OPS else "group"
    kind = get_kind(node.get("kind")) if isinstance(node.get("kind"), str) else None
    if kind is None:
        return ""
    try:
        return kind.describe(node) if kind.describe else kind.label.lower()
    except (TypeError, ValueError, AttributeError):  # a malformed rule: its kind is enough
        return kind.label.lower()


def _group(node, *, path, depth, context, counter) -> dict:
    if depth > MAX_DEPTH:
        raise RuleError(f"{where(path, node)}: groups nest at most {MAX_DEPTH} deep.", path=path)
    unknown = set(node) - {"op", "rules"}
    if unknown:
        raise RuleError(
            f"{where(path, node)}: a group has only “op” and “rules”, not {_names(unknown)}.", path=path
        )
    op = node.get("op")
    if op not in GROUP_OPS:
        raise RuleError(
            f"{where(path, node)}: “{op}” is not a group; use all, any or none.", path=path, rule_field="op"
        )
    children = node.get("rules")
    if not isinstance(children, list) or not children:
        raise RuleError(f"{where(path, node)}: the group is empty; add at least one rule.", path=path)
    cleaned = []
    for index, child in enumerate(children):
        child_path = [*path, index]
        counter[0] += 1
        if counter[0] > MAX_NODES:
            raise RuleError(
                f"{where(child_path, child)}: a segment has at most {MAX_NODES} rules.", path=child_path
            )
        if isinstance(child, dict) and "op" in child:
            cleaned.append(_group(child, path=child_path, depth=depth + 1, context=context, counter=counter))
        elif isinstance(child, dict) and "kind" in child:
            cleaned.append(_condition(child, path=child_path, context=context))
        else:
            raise RuleError(
                f"{where(child_path)}: each rule is a condition "
                '({"kind": ...}) or a group ({"op": ...}).',
                path=child_path,
            )
    return {"op": op, "rules": cleaned}


def _condition(node, *, path, context) -> dict:
    name = node.get("kind")
    kind = get_kind(name) if isinstance(name, str) else None
    if kind is None:
        known = ", ".join(k.name for k in all_kinds())
        raise RuleError(
            f"{where(path)}: “{name}” is not a kind of condition; the kinds are: {known}.",
            path=path,
            rule_field="kind",
        )
    try:
        values = _fields(kind, node)
        if kind.check is not None:
            values = kind.check(values, context)
    except RuleProblem as problem:
        raise RuleError(
            f"{where(path, node)}: {problem.message}", path=path, rule_field=problem.field
        ) from None
    return {"kind": kind.name, **values}


def _fields(kind: ConditionKind, node: dict) -> dict:
    specs = {spec.name: spec for spec in kind.fields}
    unknown = set(node) - {"kind", *specs}
    if unknown:
        raise RuleProblem(
            f"{_names(unknown)} is not a field of this condition; its fields are: {_names(specs)}.",
            field=sorted(unknown)[0],
        )
    values = {}
    for spec in kind.fields:
        raw = node.get(spec.name)
        if raw is None or raw == "" or raw == []:
            if spec.required:
                raise RuleProblem(f"{spec.label} is missing.", field=spec.name)
            continue
        values[spec.name] = _parse(spec, raw)
    return values


def _parse(spec: FieldSpec, raw):
    if spec.type == VALUE:
        return raw
    if spec.type == TEXT:
        if not isinstance(raw, str) or not raw.strip():
            raise RuleProblem(f"{spec.label} must be text.", field=spec.name)
        if len(raw.strip()) > MAX_TEXT:
            raise RuleProblem(f"{spec.label} is longer than {MAX_TEXT} characters.", field=spec.name)
        return raw.strip()
    if spec.type in (INT, REFERENCE):
        number = _integer(raw)
        if number is None:
            raise RuleProblem(f"{spec.label}: “{raw}” is not a whole number.", field=spec.name)
        if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
            raise RuleProblem(f"{spec.label} must be between {spec.min} and {spec.max}.", field=spec.name)
        return number
    if spec.type == DATE:
        if isinstance(raw, str) and _ISO_DATE.fullmatch(raw.strip()):
            try:
                return date.fromisoformat(raw.strip()).isoformat()
            except ValueError:
                pass
        raise RuleProblem(f"{spec.label}: “{raw}” is not a date such as 2025-03-31.", field=spec.name)
    allowed = {str(value) for value, _ in spec.choices()}
    if spec.type == CHOICE:
        if not isinstance(raw, str) or raw not in allowed:
            raise RuleProblem(f"{spec.label}: “{raw}” is not one of the choices.", field=spec.name)
        return raw
    if spec.type == CHOICES:
        if not isinstance(raw, list):
            raise RuleProblem(f'{spec.label} must be a list, e.g. ["DE", "AT"].', field=spec.name)
        if len(raw) > MAX_CHOICES:
            raise RuleProblem(f"{spec.label}: at most {MAX_CHOICES} values.", field=spec.name)
        wrong = [str(item) for item in raw if not isinstance(item, str) or item not in allowed]
        if wrong:
            raise RuleProblem(f"{spec.label}: {_names(wrong)} is not one of the choices.", field=spec.name)
        return list(dict.fromkeys(raw))
    raise AssertionError(f"unknown field type {spec.type!r}")  # pragma: no cover - a kind's bug


def _integer(raw) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():  # not "²"
        return int(raw.strip())
    return None


def _names(names) -> str:
    return ", ".join(f"“{name}”" for name in sorted(names))


# --- references between segments ----------------------------------------------------------------


def iter_conditions(tree, path: tuple[int, ...] = ()) -> Iterator[tuple[list[int], dict]]:
    """Every condition of a tree with its path; tolerant of stored trees of any shape."""
    rules = tree.get("rules") if isinstance(tree, dict) else None
    for index, node in enumerate(rules if isinstance(rules, list) else []):
        if isinstance(node, dict) and "op" in node:
            yield from iter_conditions(node, (*path, index))
        elif isinstance(node, dict):
            yield [*path, index], node


def segment_references(tree) -> list[tuple[list[int], int]]:
    """The segments a tree includes (``in_segment``), with the path of each reference."""
    return [
        (path, node["segment"])
        for path, node in iter_conditions(tree)
        if node.get("kind") == "in_segment" and isinstance(node.get("segment"), int)
    ]


def _refuse_cycles(tree: dict, context: CheckContext) -> None:
    for path, referenced in segment_references(tree):
        chain = _chain_back(referenced, context.segment_id, context, seen=set())
        if chain is not None:
            names = [context.segment(pk).name for pk in chain]
            node = {"kind": "in_segment", "segment": referenced}
            raise RuleError(
                f"{where(path, node)}: “{names[0]}” includes this segment ("
                + " › ".join([*names, "this segment"])
                + "), and a segment cannot include itself, directly or through others.",
                path=path,
                rule_field="segment",
            )


def _chain_back(start: int, target: int, context: CheckContext, *, seen: set[int]) -> list[int] | None:
    """The segments from ``start`` through which ``target`` is included, or None."""
    info = context.segment(start)
    if info is None or start in seen:
        return None
    seen.add(start)
    for _, referenced in segment_references(info.rules):
        if referenced == target:
            return [start]
        rest = _chain_back(referenced, target, context, seen=seen)
        if rest is not None:
            return [start, *rest]
    return None


def _refuse_deep_inclusion(tree: dict, context: CheckContext) -> None:
    depths: dict[int, int] = {}
    for path, referenced in segment_references(tree):
        depth = 1 + _inclusion_depth(referenced, context, depths, seen=frozenset())
        if depth > MAX_INCLUSION_DEPTH:
            node = {"kind": "in_segment", "segment": referenced}
            raise RuleError(
                f"{where(path, node)}: segments would include segments {depth} deep here; at most "
                f"{MAX_INCLUSION_DEPTH} (each one is compiled into the count). Include a segment nearer the "
                "conditions instead.",
                path=path,
                rule_field="segment",
            )


def _inclusion_depth(
    segment_id: int, context: CheckContext, depths: dict[int, int], *, seen: frozenset
) -> int:
    """How deep ``segment_id`` includes other segments (0: it includes none)."""
    if segment_id not in depths:
        info = context.segment(segment_id)
        if info is None or segment_id in seen:  # gone, or a circle the cycle check reports
            return 0
        references = segment_references(info.rules)
        depths[segment_id] = max(
            (1 + _inclusion_depth(ref, context, depths, seen=seen | {segment_id}) for _, ref in references),
            default=0,
        )
    return depths[segment_id]


def expansion_refused(size: int) -> str:
    return (
        f"With the segments it includes written in place, this segment has {size:,} conditions; at "
        f"most {MAX_EXPANDED_CONDITIONS:,} (each one is compiled into the count). Include fewer "
        "segments, or each of them once."
    )


def _refuse_large_expansion(tree: dict, context: CheckContext) -> None:
    size = _expanded_size(tree, context, {}, seen=frozenset())
    if size > MAX_EXPANDED_CONDITIONS:
        raise RuleError(expansion_refused(size), path=[])


def _expanded_size(tree: dict, context: CheckContext, memo: dict[int, int], *, seen: frozenset) -> int:
    """How many conditions the tree compiles to, with included segments written in place."""
    size = 0
    for _, node in iter_conditions(tree):
        referenced = node.get("segment") if node.get("kind") == "in_segment" else None
        if not isinstance(referenced, int):
            size += 1
            continue
        if referenced not in memo:
            info = context.segment(referenced)
            if info is None or referenced in seen:  # gone, or a circle the cycle check reports
                memo[referenced] = 1
            else:
                memo[referenced] = _expanded_size(info.rules, context, memo, seen=seen | {referenced})
        size += memo[referenced]
        if size > MAX_EXPANDED_CONDITIONS:
            return size  # enough to refuse; never walk a huge expansion to its end
    return size
