"""Realistic-ish support texts: the customer pool and the ticket bodies the load generator sends.

Everything is drawn from a seeded `random.Random`, so two runs send the same sequence.
"""

from __future__ import annotations

import random

FIRST_NAMES = [
    "Olivia", "Liam", "Amelia", "Noah", "Isla", "Oliver", "Ava", "George", "Mia", "Arthur",
    "Ivy", "Leo", "Freya", "Harry", "Lily", "Oscar", "Grace", "Jack", "Sofia", "Theo",
    "Priya", "Mateo", "Chloe", "Yusuf", "Hannah", "Kenji", "Zara", "Lucas", "Aisha", "Finn",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
    "Wright", "Nguyen", "Garcia", "Khan", "Murphy", "Rossi", "Schmidt", "Kowalski", "Okafor",
    "Silva", "Dubois", "Tanaka", "Andersen", "O'Brien", "Fischer", "Moreau", "Haddad",
]  # fmt: skip
DOMAINS = ["example.com", "mail.example.org", "example.net", "inbox.example.co.uk"]

PRODUCTS = [
    "kettle", "toaster", "blender", "air fryer", "coffee machine", "stand mixer",
    "food processor", "espresso grinder", "slow cooker", "rice cooker", "milk frother",
    "juicer", "hand blender", "sandwich maker", "waffle iron", "water filter jug",
]  # fmt: skip

# (subject, body) templates. {product}, {order}, {days}, {amount} and {code} are filled in.
TICKETS = [
    ("Where is my order {order}?",
     "Hi, I ordered a {product} {days} days ago (order {order}) and the tracking page has not "
     "changed since it was dispatched. Can you tell me where the parcel is and when it will "
     "arrive? I need it before the weekend."),
    ("Refund not received for {order}",
     "I returned my {product} two weeks ago and the carrier confirmed delivery to your "
     "warehouse, but I still have not received the refund of ${amount}. How long do refunds "
     "take to reach my card?"),
    ("{product} arrived damaged",
     "The box was crushed and the {product} inside has a cracked lid and a dented base. "
     "Order {order}. Can I get a replacement sent out, and do I need to send the broken one back?"),
    ("How do I return a {product}?",
     "I bought a {product} last week and it is not what I expected. It is unused and still "
     "in the original packaging. How do I start a return and print a label? Is return postage "
     "free?"),
    ("Payment declined but money taken",
     "I tried to pay for order {order} with my debit card and the checkout said payment "
     "declined, but my bank shows a pending charge of ${amount}. Was the order placed? I "
     "do not want to be charged twice."),
    ("Promo code {code} not working",
     "The discount code {code} from your newsletter says it is invalid at checkout. I am "
     "buying a {product} and the code should give 15% off. Has it expired?"),
    ("Change delivery address for {order}",
     "I just placed order {order} and realised it will go to my old address. Can you change "
     "the delivery address before it ships? The {product} is a present."),
    ("Cancel my order {order}",
     "Please cancel order {order}; I ordered the wrong colour of {product}. It was placed "
     "{days} hours ago so I hope it has not shipped yet."),
    ("{product} stopped working after {days} months",
     "My {product} will not switch on any more. The light blinks twice and then nothing. "
     "It is {days} months old. Is this covered by the warranty and how do I claim?"),
    ("Descaling light stays on",
     "I descaled my coffee machine following the manual but the descale light is still on "
     "and the coffee tastes bitter. What am I doing wrong? I used your descaling solution."),
    ("Missing item in order {order}",
     "My order {order} arrived today but the {product} was not in the box, only the other "
     "items. The packing slip lists it. Can you send it separately?"),
    ("Cannot reset my password",
     "I asked for a password reset three times and never got the e-mail. I checked spam. "
     "I need to see my order history for a {product} I bought in {days} days."),
    ("Invoice with VAT for order {order}",
     "I need a VAT invoice for order {order} for my company's expenses. The confirmation "
     "e-mail does not show the VAT number. Can you send a proper invoice?"),
    ("International shipping and customs",
     "Do you ship a {product} to Canada, and will I have to pay customs duties on arrival? "
     "The total would be about ${amount}."),
    ("Two-factor code not arriving",
     "I turned on two-factor authentication and now the SMS code does not arrive, so I "
     "cannot log in to check order {order}. How do I get back into my account?"),
    ("Exchange {product} for another model",
     "Could I exchange the {product} from order {order} for the larger model? I am happy "
     "to pay the difference of ${amount}."),
    ("Order confirmation e-mail never came",
     "I paid ${amount} for a {product} {days} days ago but never received an order "
     "confirmation e-mail. Did the order go through?"),
    ("Spare part for my {product}",
     "The seal on my {product} has worn out. Do you sell the spare part, and what is the "
     "part number? My model code is {code}."),
    ("Gift card balance",
     "I have a gift card but the balance shows as zero after I used part of it on order "
     "{order}. It should still have ${amount} on it."),
    ("Delete my account and data",
     "Please delete my account and all the personal data you hold about me. I no longer "
     "use the service. My last order was {order}."),
    ("Recall notice for {product}?",
     "I saw a news story about a recall on a {product} like mine, model {code}. Is my unit "
     "affected and what should I do?"),
    ("Buy now pay later instalment question",
     "I chose to pay for my {product} in instalments. The first payment of ${amount} was "
     "taken but I cannot see the schedule for the rest. Where can I find it?"),
    ("Package marked delivered but not here",
     "Tracking for order {order} says delivered yesterday but there is nothing at my door "
     "or with my neighbours. The {product} was ${amount}. What now?"),
    ("Air fryer basket coating peeling",
     "The non-stick coating on the basket of my air fryer is flaking after {days} weeks. "
     "Is it safe to use, and can I get a replacement basket under warranty?"),
]  # fmt: skip

PRIORITIES = ["low", "normal", "normal", "normal", "high", "urgent"]
CHANNELS = ["email", "web", "chat", "api"]


def customer_pool(size: int, *, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    pool = []
    for i in range(size):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("'", "")
        pool.append(
            {
                "email": f"{local}.{i}@{rng.choice(DOMAINS)}",
                "name": f"{first} {last}",
            }
        )
    return pool


def order_number(customer_index: int, n: int) -> str:
    return f"BS-{customer_index:04d}-{n:03d}"


def ticket_payload(rng: random.Random, pool: list[dict[str, str]]) -> dict:
    """One POST /tickets body: a pool customer and a filled-in support question."""
    index = rng.randrange(len(pool))
    subject, body = rng.choice(TICKETS)
    fill = {
        "product": rng.choice(PRODUCTS),
        "order": order_number(index, rng.randint(1, 4)),
        "days": rng.randint(2, 20),
        "amount": f"{rng.randint(15, 400)}.{rng.randint(0, 99):02d}",
        "code": f"{rng.choice('ABCDEFGHKMNPRSTW')}{rng.choice('ABCDEFGHKMNPRSTW')}"
        f"-{rng.randint(100, 9999)}",
    }
    subject = subject.format(**fill)
    return {
        "customer": pool[index],
        "subject": subject[:1].upper() + subject[1:],
        "body": body.format(**fill),
        "channel": rng.choice(CHANNELS),
        "priority": rng.choice(PRIORITIES),
    }
