"""Provider webhooks for inbound e-mail, through django-anymail: Amazon SES (an SNS
notification of a receipt rule's SNS or S3 action) and Mailgun (a route forwarding to a URL).

Anymail's views check the request (HTTP basic auth with `INBOUND_WEBHOOK_SECRET`; Mailgun's
HMAC signature with `MAILGUN_WEBHOOK_SIGNING_KEY`), turn the provider's payload into a message
and send anymail's `inbound` signal; `anymail_inbound` below hands the message's bytes to the
one service every inbound path calls, `tickets.inbound.email_receive`.

Fail closed: a webhook whose secret is not configured answers 404 and reads nothing (anymail
alone would accept unauthenticated posts with a warning). A provider retries a 5xx (the
database down: 503), not a 2xx: a message that can never be read (422 on the raw endpoint) is
logged and answered 200, so the provider does not retry it forever.
"""

from __future__ import annotations

import logging
from functools import wraps

from anymail.exceptions import AnymailError
from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from django.conf import settings
from django.views.decorators.csrf import csrf_exempt

from helpdesk.api.exceptions import InvalidEmail
from helpdesk.api.handlers import error_response

logger = logging.getLogger(__name__)


class _Guarded:
    """`as_view` that answers 404 unless the webhook's secret is configured, and turns
    anymail's own errors about a malformed payload into a 400 instead of a 500."""

    @classmethod
    def configured(cls) -> bool:
        raise NotImplementedError

    @classmethod
    def as_view(cls, **initkwargs):
        view = super().as_view(**initkwargs)

        @wraps(view)
        def guarded(request, *args, **kwargs):
            if not cls.configured():
                return error_response(404, "not_found", "This webhook is not configured.")
            try:
                return view(request, *args, **kwargs)
            except AnymailError as exc:
                logger.warning("Rejected a %s webhook: %s", cls.esp_name, exc.__class__.__name__)
                return error_response(400, "bad_request", "Not a valid webhook payload.")

        return csrf_exempt(guarded)


class SesInboundWebhook(_Guarded, AmazonSESInboundWebhookView):
    """POST /inbound/ses: SNS notifications of an SES receipt rule (SNS or S3 action)."""

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.ANYMAIL.get("WEBHOOK_SECRET"))


class MailgunInboundWebhook(_Guarded, MailgunInboundWebhookView):
    """POST /inbound/mailgun/mime: a Mailgun route's `forward()` (raw MIME, `…/mime` URL)."""

    @classmethod
    def configured(cls) -> bool:
        return bool(settings.ANYMAIL.get("MAILGUN_WEBHOOK_SIGNING_KEY"))


def anymail_inbound(sender, event, esp_name, **kwargs) -> None:
    """anymail's `inbound` signal: receive the message like POST /inbound/email."""
    from tickets.inbound import email_receive

    try:
        result = email_receive(raw=event.message.as_bytes(), actor=f"webhook:{esp_name}")
    except InvalidEmail as exc:
        logger.warning("An unreadable e-mail from the %s webhook: %s", esp_name, exc.message)
        return
    outcome = result.ignored.reason if result.ignored else result.status_code
    logger.info("E-mail from the %s webhook: %s", esp_name, outcome)
