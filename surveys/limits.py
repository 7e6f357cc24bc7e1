"""Meta's limits on the interactive messages a survey question is sent as.

From Meta's pages on reply-button and list messages
(https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages,
https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-list-messages). The
payload builders (``cloud_api.payloads``) enforce the same numbers when a message is sent; these
are here so the admin can name the option or field that breaks one while the survey is edited,
and ``tests/surveys/test_survey_limits.py`` checks that both agree.
"""

MAX_BUTTONS = 3
BUTTON_TITLE_MAX = 20
BUTTONS_BODY_MAX = 1024

MAX_LIST_ROWS = 10
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
LIST_BUTTON_MAX = 20
LIST_BODY_MAX = 4096

TEXT_MAX = 4096  # a text message's body (the thank-you)
