"""AUTHENTICATION templates (docs/meta-facts.md 8.3): options only, one OTP button."""

from __future__ import annotations

from typing import Any

from templates_app.components import (
    ButtonType,
    Component,
    HeaderFormat,
    OtpType,
    body_of,
    button_type,
    buttons_of,
    footer_of,
    header_format,
    header_of,
    otp_type,
    supported_apps,
)
from templates_app.rules.violation import Violation

CODE_EXPIRATION_MINUTES_MIN = 1  # 8.3
CODE_EXPIRATION_MINUTES_MAX = 90  # 8.3
OTP_BUTTON_LABEL_MAX_LENGTH = 25  # [UNVERIFIED]: assumed equal to the other button labels
# Meta's zero-tap page asks for ``zero_tap_terms_accepted: true`` [UNVERIFIED: not in docs/meta-facts.md].
ZERO_TAP_REQUIRES_TERMS_ACCEPTED = True


def authentication_violations(components: Any) -> list[Violation]:
    violations = []
    header = header_of(components)
    if header is not None and header_format(header) == HeaderFormat.LOCATION:
        violations.append(
            Violation(
                "header",
                "Location headers are for marketing and utility templates; authentication templates "
                "have no header.",
                "header_location_category",
            )
        )
    elif header is not None:
        violations.append(
            Violation(
                "header", "Authentication templates have no header.", "authentication_header_not_allowed"
            )
        )
    body = body_of(components)
    if body is None:
        violations.append(
            Violation(
                "body",
                "Authentication templates need their body section (WhatsApp writes the text).",
                "body_required",
            )
        )
    elif "text" in body:
        violations.append(
            Violation(
                "body",
                "Authentication templates can't have your own text: WhatsApp writes it (“<code> is "
                "your verification code.”). Choose only whether to add the security recommendation.",
                "authentication_body_text_not_allowed",
            )
        )
    elif not isinstance(body.get("add_security_recommendation", False), bool):
        violations.append(
            Violation(
                "body", "The security recommendation is either on or off.", "authentication_body_invalid"
            )
        )
    violations += _authentication_footer_violations(footer_of(components))
    violations += _otp_button_violations(buttons_of(components))
    return violations


def _authentication_footer_violations(footer: Component | None) -> list[Violation]:
    if footer is None:
        return []
    violations = []
    if "text" in footer:
        violations.append(
            Violation(
                "footer",
                "Authentication templates can't have your own footer text; only the code expiry.",
                "authentication_footer_text_not_allowed",
            )
        )
    minutes = footer.get("code_expiration_minutes")
    if "code_expiration_minutes" in footer and (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not CODE_EXPIRATION_MINUTES_MIN <= minutes <= CODE_EXPIRATION_MINUTES_MAX
    ):
        violations.append(
            Violation(
                "code_expiration_minutes",
                f"The code expiry must be a whole number of minutes from {CODE_EXPIRATION_MINUTES_MIN} "
                f"to {CODE_EXPIRATION_MINUTES_MAX}.",
                "authentication_expiry_out_of_range",
            )
        )
    return violations


def _otp_button_violations(buttons: list[Component]) -> list[Violation]:
    if len(buttons) != 1 or button_type(buttons[0]) != ButtonType.OTP:
        return [
            Violation(
                "buttons",
                "Authentication templates need exactly one button: the one-time-password button "
                "(copy code, one-tap or zero-tap).",
                "authentication_otp_button_required",
            )
        ]
    button = buttons[0]
    kind = otp_type(button)
    if kind not in OtpType.__members__:
        return [
            Violation(
                "buttons[0].otp_type",
                "Choose how the code is delivered: copy code, one-tap autofill or zero-tap.",
                "authentication_otp_type_invalid",
            )
        ]
    violations = []
    text = button.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > OTP_BUTTON_LABEL_MAX_LENGTH):
        violations.append(
            Violation(
                "buttons[0].text",
                f"The button label can be at most {OTP_BUTTON_LABEL_MAX_LENGTH} characters.",
                "button_label_too_long",
            )
        )
    if kind in (OtpType.ONE_TAP, OtpType.ZERO_TAP):
        apps = supported_apps(button)
        complete = apps and all(
            isinstance(app.get("package_name"), str)
            and app["package_name"].strip()
            and isinstance(app.get("signature_hash"), str)
            and app["signature_hash"].strip()
            for app in apps
        )
        if not complete:
            violations.append(
                Violation(
                    "buttons[0].supported_apps",
                    "One-tap and zero-tap codes need your Android app's package name and signature hash.",
                    "authentication_app_required",
                )
            )
    if (
        kind == OtpType.ZERO_TAP
        and ZERO_TAP_REQUIRES_TERMS_ACCEPTED
        and button.get("zero_tap_terms_accepted") is not True
    ):
        violations.append(
            Violation(
                "buttons[0].zero_tap_terms_accepted",
                "Zero-tap codes need you to accept WhatsApp's zero-tap terms.",
                "authentication_zero_tap_terms",
            )
        )
    return violations
