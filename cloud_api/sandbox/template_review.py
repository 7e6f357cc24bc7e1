"""Template lifecycle in the sandbox: creation, editing, review after a delay, and status changes.

Every status change that Meta would announce goes out as a ``message_template_status_update``
webhook at the moment the status changes, so the app sees what a test or the review decided.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.events import template_status_event
from cloud_api.sandbox.graph_errors import GraphError
from cloud_api.sandbox.state import SandboxState, SandboxTemplate
from cloud_api.sandbox.template_rules import check_components, check_new_template, review_verdict
from cloud_api.sandbox.webhooks import WebhookSender

EDITABLE_STATUSES = ("APPROVED", "REJECTED", "PAUSED")
DAY = 24 * 3600.0


def _upper(value: Any) -> Any:
    """A category or parameter format as Meta keeps it: upper-case, whichever case it was written in."""
    return value.upper() if isinstance(value, str) else value


class TemplateDesk:
    def __init__(self, config: SandboxConfig, state: SandboxState, webhooks: WebhookSender):
        self._config = config
        self._state = state
        self._webhooks = webhooks
        self._reviews: dict[str, asyncio.TimerHandle] = {}

    def create(self, body: dict[str, Any]) -> SandboxTemplate:
        check_new_template(body, self._state, self._config.template_limit)
        template = SandboxTemplate(
            id=self._state.new_id(),
            name=body["name"],
            language=body["language"],
            category=body["category"],
            components=body["components"],
            parameter_format=body.get("parameter_format", "POSITIONAL"),
        )
        self._state.templates[template.id] = template
        self._start_review(template)
        return template

    def edit(self, template: SandboxTemplate, body: dict[str, Any]) -> None:
        if template.status not in EDITABLE_STATUSES:
            raise GraphError(
                100, f"Only APPROVED, REJECTED or PAUSED templates can be edited, not {template.status}."
            )
        category = _upper(body.get("category"))
        components = body.get("components")
        if category is None and components is None:
            raise GraphError(131008, "Give components and/or category to edit.")
        if category is not None and category != template.category and template.status == "APPROVED":
            raise GraphError(100, "The category of an approved template cannot be edited.")
        if template.status == "APPROVED" and self._config.enforce_edit_limits:
            now = time.time()
            if any(now - at < DAY for at in template.edits):
                raise GraphError(100, "An approved template can be edited once per 24 hours.")
            if sum(1 for at in template.edits if now - at < 30 * DAY) >= 10:
                raise GraphError(100, "An approved template can be edited 10 times per 30 days.")
        if components is not None:
            check_components(
                components,
                category=category or template.category,
                parameter_format=template.parameter_format,
                state=self._state,
            )
            template.components = components
        if category is not None:
            template.category = category
        template.edits.append(time.time())
        template.status = "PENDING"
        self._start_review(template)

    def delete(self, name: str, template_id: str | None) -> None:
        matches = [
            t for t in self._state.templates.values() if t.name == name and template_id in (None, t.id)
        ]
        if not matches:
            raise GraphError(100, f"Message template {name!r} not found.")
        if any(t.status == "DISABLED" for t in matches):
            raise GraphError(100, "DISABLED templates cannot be deleted.")
        for template in matches:
            self._cancel_review(template.id)
            del self._state.templates[template.id]

    def upsert(self, body: dict[str, Any], *, notify: bool) -> SandboxTemplate:
        """Seed a template with a chosen status (control endpoint, --seed-file), bypassing review."""
        for key in ("name", "language", "components"):
            if not body.get(key):
                raise ValueError(f"a seeded template needs {key!r}")
        category = _upper(body.get("category", "UTILITY"))  # Meta's examples write "marketing"
        parameter_format = _upper(body.get("parameter_format", "POSITIONAL"))
        check_components(
            body["components"],
            category=category,
            parameter_format=parameter_format,
            state=self._state,
            check_handles=False,
        )
        template = self._state.find_template(body["name"], body["language"])
        if template is None:
            template = SandboxTemplate(
                id=str(body.get("id") or self._state.new_id()),
                name=body["name"],
                language=body["language"],
                category=category,
                components=body["components"],
            )
            self._state.templates[template.id] = template
        template.category = category
        template.components = body["components"]
        template.parameter_format = parameter_format
        self._cancel_review(template.id)
        status = body.get("status", "APPROVED")
        if status == "PENDING":
            template.status = status
            self._start_review(template)
        else:
            self.set_status(template, status, reason=body.get("reason"), notify=notify)
        return template

    def set_status(
        self,
        template: SandboxTemplate,
        status: str,
        *,
        reason: str | None = None,
        notify: bool = True,
        rejection_info: dict | None = None,
        other_info: dict | None = None,
    ) -> None:
        template.status = status
        template.rejected_reason = (reason or "NONE") if status == "REJECTED" else "NONE"
        if notify:
            self._webhooks.schedule(
                template_status_event(
                    template_id=template.id,
                    name=template.name,
                    language=template.language,
                    category=template.category,
                    event=status,
                    reason=reason or "NONE",
                    rejection_info=rejection_info,
                    other_info=other_info,
                )
            )

    def _start_review(self, template: SandboxTemplate) -> None:
        self._cancel_review(template.id)
        loop = asyncio.get_running_loop()
        self._reviews[template.id] = loop.call_later(
            self._config.review_delay, self._finish_review, template.id
        )

    def _cancel_review(self, template_id: str) -> None:
        handle = self._reviews.pop(template_id, None)
        if handle:
            handle.cancel()

    def _finish_review(self, template_id: str) -> None:
        self._reviews.pop(template_id, None)
        template = self._state.templates.get(template_id)
        if template is None or template.status != "PENDING":
            return
        status, reason, rejection_info = review_verdict(
            template, self._config.reject_word, self._config.reject_reason
        )
        self.set_status(template, status, reason=reason, rejection_info=rejection_info)
