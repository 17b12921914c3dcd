"""The customer's satisfaction with how their request was handled: good or bad, in one click.

The e-mail of a reply that resolves a ticket ends with two links, "Good" and "Bad"
(`survey_links`), to `/survey/<token>` on HELPDESK_PUBLIC_URL. The token is the ticket's id,
signed with SECRET_KEY and dated (django.core.signing): it cannot be guessed or altered, and it
stops working SATISFACTION_LINK_DAYS after it was sent. The link opens a page with that rating
chosen and a box for a comment; nothing is recorded until the customer sends it (a POST), so a
mail scanner that follows every link rates nothing. One rating per ticket: rating again
replaces it. Each is logged on the ticket's history (`satisfaction_rated`), shown on the ticket
page, and counted on the dashboard.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from customers.interactions import Kind
from tickets import changes
from tickets.models import Satisfaction, Ticket

SALT = "helpdesk.tickets.satisfaction"
MAX_COMMENT = 2000


class LinkInvalid(Exception):
    """Not a link this helpdesk made (altered, cut, or for a ticket that is gone)."""


class LinkExpired(LinkInvalid):
    """A real link, older than SATISFACTION_LINK_DAYS."""


def survey_links(ticket: Ticket) -> dict[str, str]:
    """{"good": url, "bad": url} for the e-mail that resolves `ticket`; {} without
    HELPDESK_PUBLIC_URL (nowhere for the customer to go)."""
    if not settings.HELPDESK_PUBLIC_URL:
        return {}
    token = signing.dumps(ticket.pk, salt=SALT)
    url = f"{settings.HELPDESK_PUBLIC_URL}/survey/{token}"
    return {rating: f"{url}?rating={rating}" for rating in Satisfaction.Rating.values}


def ticket_of(token: str) -> Ticket:
    """The ticket a link's token names; LinkExpired / LinkInvalid otherwise."""
    max_age = settings.SATISFACTION_LINK_DAYS * 86400
    try:
        ticket_id = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    ticket = (
        Ticket.objects.select_related("customer").filter(pk=ticket_id).first()
        if isinstance(ticket_id, int)
        else None
    )
    if ticket is None:
        raise LinkInvalid
    return ticket


def current_rating(ticket: Ticket) -> Satisfaction | None:
    return Satisfaction.objects.filter(ticket=ticket).first()


@transaction.atomic
def satisfaction_record(*, ticket: Ticket, rating: str, comment: str = "") -> Satisfaction:
    """Record (or replace) the customer's rating of `ticket`, and log it on its history."""
    comment = comment.strip()[:MAX_COMMENT]
    earlier = Satisfaction.objects.select_for_update().filter(ticket=ticket).first()
    previous = earlier.rating if earlier is not None else None
    rated, _ = Satisfaction.objects.update_or_create(
        ticket=ticket,
        defaults={"rating": rating, "comment": comment, "rated_at": timezone.now()},
    )
    summary = f"{ticket.number}: the customer rated it {rating}"
    if previous is not None and previous != rating:
        summary += f" (was {previous})"
    if comment:
        summary += f": “{comment[:200]}”"
    changes.log_ticket_event(
        ticket,
        kind=Kind.SATISFACTION_RATED,
        summary=summary,
        actor=f"customer:{ticket.customer.email}",
        data={"rating": rating, "comment": comment, "previous": previous},
    )
    return rated
