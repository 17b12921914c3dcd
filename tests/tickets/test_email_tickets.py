"""POST /tickets with tickets written the way customers of a home-appliance shop write e-mails.

Each case is a real-looking e-mail (greetings, sign-offs, phone and corporate signatures, quoted
replies, forwarded mail, legal footers, HTML, chat-style lines, questions only in the subject)
paired with the one sample-KB article a support agent would send back. The retriever must read
the ticket as a person does (helpdesk.reading): the quoted history, signatures and sign-offs must
not steer the ranking, and they must not be in `body_clean`, while `body` keeps the e-mail as
received.

The customers' words are their own ("money back", "card won't go through", "swap it"), not the
knowledge base's.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tickets.models import Ticket

pytestmark = pytest.mark.django_db

# Titles as written in knowledge/sample_kb/*.md (the first "# " heading).
PAYMENT_DECLINED = "Why Was My Payment Declined?"
DAMAGED = "Damaged or Broken Item on Arrival"
DELIVERY_ADDRESS = "Changing the Delivery Address"
INVOICES = "Invoices and VAT Receipts"
TWO_FACTOR = "Two-Factor Authentication (2FA)"
PASSWORD = "Creating an Account and Resetting Your Password"
DELAYED = "Delayed or Lost Package"
TRACKING = "Tracking Your Order"
AIR_FRYER = "Air Fryer Care and Cleaning"
DESCALING = "How to Descale Your Coffee Machine"
WARRANTY = "Warranty Coverage and How to Make a Claim"
EXCHANGES = "Exchanges"
PROMO = "Promo Codes and Gift Cards"
MISSING_ITEMS = "Missing Items in Your Order"
CANCEL = "Changing or Cancelling an Order"
INTERNATIONAL = "International Shipping and Customs Duties"
REFUNDS = "Refunds: How and When You Get Your Money Back"
PRIVACY = "Deleting Your Account and Data Privacy Requests"
INSTALMENTS = "Buy Now, Pay Later Instalments"
RECALLS = "Product Recalls and Safety Notices"
RETURN_LABEL = "How to Start a Return and Print a Label"
SPARE_PARTS = "Spare Parts and Accessories"

GMAIL_INTRO = "On Tue, 1 Dec 2026 at 09:14, Brightside Support <support@brightside.example> wrote:"

ACME_DISCLAIMER = (
    "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and intended "
    "solely for the use of the individual or entity to whom they are addressed. If you are not "
    "the intended recipient, please notify the sender immediately and delete this message. Acme "
    "Ltd is registered in England and Wales, company no. 01234567."
)


def case(id_, subject, body, expected, absent=()):
    return pytest.param(subject, body, expected, list(absent), id=id_)


EMAILS = [
    # --- the two e-mails from the issue -------------------------------------------------------
    case(
        "card-declined-hi-cheers-tom",
        "Payment",
        "Hi,\nmy card keeps getting declined at checkout even though it works elsewhere.\n"
        "What can I do?\nCheers\nTom",
        PAYMENT_DECLINED,
        absent=["Cheers", "Tom"],
    ),
    case(
        "cracked-blender-jar-best-regards-sent-from-iphone",
        "Problem with my order",
        "Hello team,\nmy blender arrived yesterday with a cracked jar. "
        "I would like my money back.\nI have photos if needed.\n"
        "Best regards,\nAna Souza\nSent from my iPhone",
        DAMAGED,
        absent=["Hello team", "Best regards", "Ana Souza", "Sent from my iPhone"],
    ),
    # --- quoted replies and forwards ----------------------------------------------------------
    case(
        "gmail-reply-new-address-under-descaling-quote",
        "Re: Your Brightside Home enquiry [HD-000417]",
        "Hi again,\n\n"
        "That sorted it, the coffee tastes normal again so thank you!\n\n"
        "Different thing now. I ordered a stand mixer this morning (BH-588213) and only just "
        "noticed it's going to my old flat - I moved out last week. Can you send it to my new "
        "place instead? It hasn't shipped yet as far as I can see.\n\n"
        "Cheers,\nPriya\n\n"
        f"{GMAIL_INTRO}\n"
        "> Hi Priya,\n"
        ">\n"
        "> Sorry to hear your Barista One has become slow and the coffee tastes bitter. This is\n"
        "> almost always limescale. Please run the descaling programme: fill the water tank with\n"
        "> one sachet of Brightside Descaling Solution and 500 ml of water, hold the descale\n"
        "> button for 3 seconds and let the cycle finish, then rinse twice with fresh water.\n"
        ">\n"
        "> Kind regards,\n"
        "> Jordan\n"
        "> Brightside Home Customer Care",
        DELIVERY_ADDRESS,
        absent=["Priya", "wrote:", "descaling", "limescale", "Barista One", "Jordan"],
    ),
    case(
        "outlook-reply-vat-invoice-corporate-signature-and-disclaimer",
        "RE: Order BH-310552 - office kettles",
        "Hello,\n\n"
        "Thanks, all six kettles are here now. Our accounts team needs a proper VAT invoice for "
        "the order made out to Acme Ltd with our VAT number GB 123 4567 89 on it - the email "
        "confirmation isn't enough for them. Where do I get one?\n\n"
        "Kind regards\n"
        "--\n"
        "John Smith\n"
        "Head of Facilities | Acme Ltd\n"
        "Tel: +44 20 7946 0000\n\n"
        f"{ACME_DISCLAIMER}\n\n"
        "-----Original Message-----\n"
        "From: Brightside Support <support@brightside.example>\n"
        "Sent: 30 November 2026 16:02\n"
        "To: John Smith <j.smith@acme.example>\n"
        "Subject: RE: Order BH-310552 - office kettles\n\n"
        "Hello John,\n\n"
        "Your order was sent in two parcels. The first parcel (four kettles) was delivered on "
        "Friday; the second parcel with the remaining two kettles was handed to the carrier "
        "today and the tracking link will be active this evening.\n\n"
        "Best wishes,\n"
        "Sam\n"
        "Brightside Home Customer Care",
        INVOICES,
        absent=[
            "Kind regards",
            "John Smith",
            "Head of Facilities",
            "+44 20 7946 0000",
            "CONFIDENTIALITY",
            "intended recipient",
            "Original Message",
            "two parcels",
            "tracking link",
        ],
    ),
    case(
        "fwd-dispatch-email-mixer-attachments-not-in-box",
        "Fwd: Your Brightside order is on its way",
        "Hi,\n\n"
        "Forwarding the email below. The box turned up today but there was just the mixer and "
        "the bowl, no dough hook, no whisk and no flat beater anywhere. Can you send them?\n\n"
        "Regards,\n"
        "Tom Becker\n\n"
        "---------- Forwarded message ---------\n"
        "From: Brightside Home <orders@brightside.example>\n"
        "Date: Mon, 30 Nov 2026 at 08:02\n"
        "Subject: Your Brightside order is on its way\n"
        "To: <tom.becker@example.com>\n\n"
        "Good news! Your order BH-771020 has left our warehouse and is on its way with UPS.\n"
        "Track your parcel: https://brightside.example/account/orders\n"
        "Estimated delivery: 2-3 business days.",
        MISSING_ITEMS,
        absent=["Tom Becker", "Forwarded message", "left our warehouse", "Track your parcel"],
    ),
    # --- the question only in the subject -----------------------------------------------------
    case(
        "subject-only-two-step-login-see-above",
        "How do I switch on the extra security code when logging in?",
        "See above.\n\nSent from my iPhone",
        TWO_FACTOR,
        absent=["Sent from my iPhone"],
    ),
    case(
        "subject-only-password-reset-as-per-subject",
        "Fwd: Locked out - password reset link never comes through",
        "Hello,\n\nAs per subject, thanks.\n\nDaniel Kowalski",
        PASSWORD,
        absent=["Daniel Kowalski"],
    ),
    # --- chat style, rambling, HTML -----------------------------------------------------------
    case(
        "chat-style-parcel-two-weeks-no-punctuation",
        "order",
        "hi my parcel still hasnt come its been 2 weeks\n"
        "i even paid for the express one\n"
        "what do i do now\n\n"
        "Sent from Yahoo Mail on Android",
        DELAYED,
        absent=["Sent from Yahoo Mail"],
    ),
    case(
        "long-rambling-air-fryer-smoke-question-in-the-middle",
        "air fryer",
        "Hello there,\n\n"
        "I hope you don't mind me writing, I know you must be busy. We've been customers for a "
        "few years now, my husband bought our first kettle from you when we moved into this "
        "house and it's still going strong, and my daughter has one of your toasters in her "
        "student flat. We had the kitchen redone over the summer (new worktops, new sockets, the "
        "lot) so I treated myself to one of your air fryers in September and honestly I use it "
        "nearly every day, the chips are lovely.\n\n"
        "The thing is, for the last couple of weeks it puffs out white smoke and the whole "
        "kitchen smells of burnt fat every time I switch it on, even for frozen veg. I wash the "
        "drawer but I think there's gunk built up somewhere I can't reach. How am I supposed to "
        "get it properly clean inside, and what can I use without ruining the coating?\n\n"
        "Anyway the delivery driver back in September was lovely, please pass that on. I'll "
        "probably be ordering a stand mixer for Christmas too if the prices come down, my "
        "sister swears by hers.\n\n"
        "All the best,\n"
        "Margaret O'Neill",
        AIR_FRYER,
        absent=["All the best", "Margaret O'Neill"],
    ),
    case(
        "html-espresso-machine-slow-and-lukewarm",
        "Coffee machine",
        "<html><body>"
        "<p>Hi,</p>"
        "<p>My Barista One has got really slow over the last month, the coffee comes out "
        "lukewarm and it's much louder than it used to be. There are little white flakes "
        "floating in the water tank too.&nbsp;Is there something I should be doing to it?</p>"
        "<p>Thanks,<br>Priya Patel</p>"
        "<div>Sent from Outlook for iOS</div>"
        "</body></html>",
        DESCALING,
        absent=["<p>", "<br>", "&nbsp;", "Priya Patel", "Sent from Outlook"],
    ),
    # --- greetings and sign-offs in their many forms ------------------------------------------
    case(
        "dear-sir-madam-toaster-stopped-heating-yours-faithfully",
        "Faulty toaster",
        "Dear Sir/Madam,\n\n"
        "I bought a two-slice toaster from your website about eighteen months ago. Since last "
        "week the left-hand side no longer heats at all. I have kept my receipt. Could you "
        "please tell me whether this is still covered and what I need to do to get it repaired "
        "or replaced.\n\n"
        "Yours faithfully,\n\n"
        "Margaret Hughes (Mrs)",
        WARRANTY,
        absent=["Dear Sir", "Yours faithfully", "Margaret Hughes"],
    ),
    case(
        "hey-swap-kettle-colour-thanks-priya",
        "kettle colour",
        "Hey\n\n"
        "Got the black kettle last week, nothing wrong with it but it looks awful next to my "
        "cream toaster. Can I swap it for the cream one? Haven't used it, still in the box.\n\n"
        "Thanks, Priya",
        EXCHANGES,
        absent=["Thanks, Priya"],
    ),
    case(
        "welcome-voucher-rejected-thanks-in-advance-ipad",
        "Discount",
        "Hi there,\n\n"
        "I got 15% off in the welcome email when I signed up for your newsletter, but when I "
        "type it in at the checkout it just says the code isn't valid. I'm buying the 5.5L air "
        "fryer, which isn't in the sale. What am I doing wrong?\n\n"
        "Thanks in advance!\n"
        "Katie\n\n"
        "Sent from my iPad",
        PROMO,
        absent=["Thanks in advance", "Katie", "Sent from my iPad"],
    ),
    case(
        "stop-order-before-it-ships-good-morning-initials",
        "Ordered by mistake",
        "Good morning,\n\n"
        "Late last night I ordered a toaster but I've since found the same one in a shop in town. "
        "Please can you stop it before it goes out? I don't want it any more.\n\n"
        "Kind regards,\n"
        "S. Okafor",
        CANCEL,
        absent=["Kind regards", "Okafor"],
    ),
    case(
        "uk-customer-extra-charges-and-plugs-cheers-gareth",
        "Ordering from the UK",
        "Hello,\n\n"
        "I'm in Leeds and I'm thinking of ordering the Barista One from you. Will the courier "
        "ask me to pay extra fees when it lands here, and will it actually work with our plug "
        "sockets?\n\n"
        "Cheers,\n"
        "Gareth",
        INTERNATIONAL,
        absent=["Cheers", "Gareth"],
    ),
    case(
        "re-return-received-but-nothing-back-on-card",
        "Re: We've received your return",
        "Hiya,\n\n"
        "Your email says you got the toaster back ten days ago but there's still nothing back "
        "on my Visa. When am I actually going to see the money?\n\n"
        "Thx\n"
        "Leanne",
        REFUNDS,
        absent=["Leanne"],
    ),
    case(
        "erase-my-details-with-legal-footer",
        "Please close my account",
        "To whom it may concern,\n\n"
        "I no longer wish to shop with you. Please close my account and wipe everything you "
        "hold about me - name, addresses, order history, the lot - and confirm in writing once "
        "it has been done.\n\n"
        "Regards,\n"
        "Dr. Helen Marsh\n"
        "Marsh & Partners Solicitors\n\n"
        "This message is confidential and may be legally privileged. If you have received it "
        "in error, please notify the sender and delete it from your system. Any unauthorised "
        "use, disclosure or copying is prohibited.",
        PRIVACY,
        absent=["Helen Marsh", "Solicitors", "legally privileged", "unauthorised"],
    ),
    case(
        "spread-cost-of-espresso-machine-monthly",
        "Question before I buy",
        "Hi,\n\n"
        "The Barista One is a bit much for me to pay in one go. Is there any way to split the "
        "cost over a few months instead of paying it all up front?\n\n"
        "Many thanks\n"
        "Olu",
        INSTALMENTS,
        absent=["Many thanks", "Olu"],
    ),
    case(
        "kettle-lid-pops-open-heard-about-callback",
        "Is my kettle safe??",
        "Hi\n\n"
        "Saw a post on Facebook that some of your kettles are being called back because the lid "
        "can fly open while it's boiling. Ours does exactly that! It's the QuickBoil one. How "
        "do I find out if ours is one of the bad ones and what happens now?\n\n"
        "Thanks\n"
        "Dave & Linda",
        RECALLS,
        absent=["Dave & Linda"],
    ),
    case(
        "send-back-mixer-too-big-how-to-post-it",
        "Sending the mixer back",
        "Hello,\n\n"
        "The stand mixer is lovely but it's far too big for our kitchen. I'd like to send it "
        "back - how do I get the postage sorted, do you email me something to stick on the box?\n\n"
        "Best wishes,\n"
        "Rosa Lindqvist",
        RETURN_LABEL,
        absent=["Best wishes", "Rosa Lindqvist"],
    ),
    case(
        "blender-lid-split-buy-just-the-lid",
        "blender lid",
        "Hi,\n\n"
        "The rubber lid on my ProBlend jug has split along the edge after about a year. Do you "
        "sell just the lid on its own? I don't really want to buy a whole new blender for it.\n\n"
        "Ta,\n"
        "Ben",
        SPARE_PARTS,
        absent=["Ben"],
    ),
]


def post_ticket(api, subject, body):
    return api.post(
        "/tickets",
        {
            "customer": {"email": "customer@example.com", "name": "A Customer"},
            "subject": subject,
            "body": body,
            "channel": "email",
        },
        format="json",
    )


def assert_stored_raw_and_clean(response, body):
    ticket_json = response.json()["ticket"]
    ticket = Ticket.objects.get(pk=ticket_json["id"])
    assert ticket.body == body
    assert ticket_json["body"] == body
    assert ticket_json["body_clean"] == ticket.body_clean
    return ticket


def titles(response):
    return [s["title"] for s in response.json()["suggestions"]]


# Read correctly (body_clean passes) but ranked below the right article by the retriever as it
# is: MiniLM-L6 places the right article 7th-9th on these paraphrases, and no signal lifts it
# without hurting the eval sets. Strict: a retriever that answers them turns these red.
KNOWN_MISSES = {
    "gmail-reply-new-address-under-descaling-quote": "two topics in one message; "
    "'send it to my new place' is not matched to 'delivery address' (rank 9 by embeddings)",
    "dear-sir-madam-toaster-stopped-heating-yours-faithfully": "'still covered … repaired or "
    "replaced' is not matched to 'warranty' (rank 7 by embeddings)",
    "send-back-mixer-too-big-how-to-post-it": "'get the postage sorted … something to stick on "
    "the box' is not matched to 'return label' (rank 8 by embeddings)",
}


@pytest.mark.parametrize(("subject", "body", "expected", "absent"), EMAILS)
def test_email_ticket_suggests_the_article_an_agent_would_send_first(
    api, request, subject, body, expected, absent
):
    miss = KNOWN_MISSES.get(request.node.callspec.id)
    if miss:
        request.applymarker(pytest.mark.xfail(strict=True, reason=miss))
    response = post_ticket(api, subject, body)

    assert response.status_code == 201, response.content
    assert response.json()["degraded"] == []
    assert titles(response)[:1] == [expected], titles(response)[:3]
    assert_stored_raw_and_clean(response, body)


@pytest.mark.parametrize(("subject", "body", "expected", "absent"), EMAILS)
def test_email_ticket_body_clean_drops_signoff_quote_and_footer_but_body_stays_raw(
    api, subject, body, expected, absent
):
    response = post_ticket(api, subject, body)

    assert response.status_code == 201, response.content
    ticket = assert_stored_raw_and_clean(response, body)
    assert ticket.body_clean.strip()
    for text in absent:
        assert text not in ticket.body_clean, (text, ticket.body_clean)
        assert text not in response.json()["ticket"]["body_clean"]


# --- bad input: never an empty answer for a real question ------------------------------------


def test_body_that_is_only_a_quote_falls_back_and_still_gets_suggestions(api):
    body = (
        f"{GMAIL_INTRO}\n"
        "> Hi Leanne,\n"
        ">\n"
        "> We have received the toaster you sent back and your return is now being checked.\n"
        "> You will get another email from us once it has been processed.\n"
        ">\n"
        "> Kind regards,\n"
        "> Brightside Home Customer Care"
    )

    response = post_ticket(api, "Still no money back for the toaster I returned", body)

    assert response.status_code == 201, response.content
    assert response.json()["suggestions"], "a real question must never get no suggestions"
    ticket = assert_stored_raw_and_clean(response, body)
    assert ticket.body_clean.strip()


def test_body_that_is_only_a_signature_is_answered_from_the_subject(api):
    body = "--\nTom Becker\nSent from my iPhone"

    response = post_ticket(api, "Where is my parcel?", body)

    assert response.status_code == 201, response.content
    top_two = titles(response)[:2]
    assert {TRACKING, DELAYED} & set(top_two), titles(response)[:3]
    ticket = assert_stored_raw_and_clean(response, body)
    assert ticket.body_clean.strip()


def _long_quoted_thread(min_bytes: int) -> str:
    """A delivery thread quoted back and forth, two levels deep, until it reaches min_bytes."""
    lines: list[str] = []
    day = 1
    while len("\n".join(lines).encode()) < min_bytes:
        lines += [
            f"On Mon, {day % 28 + 1} Nov 2026 at 10:{day % 60:02d}, Brightside Support "
            "<support@brightside.example> wrote:",
            "> Hello Liam,",
            ">",
            "> Thank you for your patience. The courier has confirmed your parcel BH-640118 is",
            "> still at their regional depot after a missed scan. We have asked them to",
            "> prioritise it and will update you as soon as the tracking moves again.",
            ">",
            f"> >On Sun, {day % 28 + 1} Nov 2026 at 18:{day % 60:02d}, Liam Carter "
            "<liam.carter@example.com> wrote:",
            "> > Hi, the tracking page still says in transit and nobody has knocked. The",
            "> > courier's website says the parcel was out for delivery on Thursday. Where",
            "> > is it and when will it actually get here?",
            ">",
        ]
        day += 1
    return "\n".join(lines)


def test_sixty_kib_quoted_history_under_three_new_lines_reads_only_the_new_words(api):
    new_words = [
        "Quick one on top of all this: the lid on our kettle keeps popping open mid-boil.",
        "I read online that some of your kettles are being called back, is ours one of them?",
        "Model BK-170 on the base, batch number 2317.",
    ]
    body = "\n".join(new_words) + "\n\nLiam\n\n" + _long_quoted_thread(60 * 1024)
    assert 60 * 1024 < len(body.encode()) < settings.TICKET_BODY_MAX_BYTES

    response = post_ticket(api, "Re: Re: Your Brightside Home enquiry [HD-000388]", body)

    assert response.status_code == 201, response.content
    assert titles(response)[:1] == [RECALLS], titles(response)[:3]
    ticket = assert_stored_raw_and_clean(response, body)
    for line in new_words:
        assert line in ticket.body_clean
    for quoted in ("wrote:", "courier", "regional depot", "in transit", "Liam Carter"):
        assert quoted not in ticket.body_clean, quoted


def test_html_fragment_body_is_read_as_text_without_tags(api):
    body = (
        "<p>Hello,<br>the toaster I bought in the spring only browns one side now and the "
        "other stays white.</p><p>Is that something you fix under the guarantee?"
        "<div>Regards<br>Ken Wu</div>"
    )

    response = post_ticket(api, "Toaster only toasting on one side", body)

    assert response.status_code == 201, response.content
    assert response.json()["suggestions"]
    ticket = assert_stored_raw_and_clean(response, body)
    assert "only browns one side" in ticket.body_clean
    for tag in ("<p>", "</p>", "<br>", "<div>", "</div>"):
        assert tag not in ticket.body_clean
        assert tag not in response.json()["ticket"]["body_clean"]
