"""The chat bubble a campaign draws for one person, or with sample values.

The same renderer and bubble as the template editor and the message log
(``templates_app.preview.render_bubble``), fed with the parameters the send would carry
(``messaging.campaigns.bindings``), so what staff preview is what the member gets. A value the
member lacks, without a fallback, is shown as missing instead of refused: the preview is where
staff find such members (the eligibility query excludes them from the send).
"""

from __future__ import annotations

from contacts.models import Contact
from messaging.campaign_models import Campaign
from messaging.campaigns.bindings import build_parameters
from messaging.campaigns.languages import campaign_content
from messaging.campaigns.media import header_media_parameter
from templates_app.preview import render_bubble


def campaign_bubble(
    campaign: Campaign, *, contact: Contact | None = None, language: str | None = None
) -> str:
    """HTML of the message as ``contact`` would read it (in their language unless ``language``, a
    template language of the campaign, is given), or with sample values when ``contact`` is None
    (in ``language``, else the default). The header's media is a placeholder."""
    content = campaign_content(campaign)
    if language is None and contact is not None:
        language = content.language_for_contact(contact.language)
    item = content.for_language(language)
    parameters = build_parameters(
        content,
        item,
        contact=contact,
        header_media=header_media_parameter(campaign, item, required=False),
        mark_missing=True,
    )
    return render_bubble(components=item.components, parameters=parameters)
