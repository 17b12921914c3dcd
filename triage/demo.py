"""The demo store's categories and agent-labelled example tickets (seed_demo), so triage has a
model right after `make run`. Examples are written as customers write, not as the categories'
names; each category gets six, and seven more are tickets the agents decided no category
fits."""

from __future__ import annotations

# name → (description, default priority, examples [(subject, body)])
CATEGORIES: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "Returns & refunds": (
        "Sending something back, exchanges, refunds that have not arrived.",
        "",
        [
            ("Refund still missing", "I sent the blender back two weeks ago and no refund yet."),
            ("Return a mixer", "The stand mixer is too big for my kitchen, how do I return it?"),
            ("Money back?", "You received my return last week, when do I get my money?"),
            ("Exchange request", "Can I swap my kettle for the black one instead of the white?"),
            ("Return label", "Please send me a return label for the air fryer."),
            ("Refund amount wrong", "I was refunded 20 dollars less than I paid for the pan set."),
        ],
    ),
    "Delivery & tracking": (
        "Where an order is, late or lost parcels, delivery address changes.",
        "",
        [
            ("Order not arrived", "My order was due on Monday and it still has not come."),
            ("Tracking stuck", "The tracking page has not moved for five days."),
            ("Wrong address", "Can you send my parcel to my office address instead of home?"),
            ("Marked delivered", "It says delivered but there is nothing at my door."),
            ("Delivery time", "How long does shipping to Canada take?"),
            ("Courier lost it", "The courier says my package was lost in the depot."),
        ],
    ),
    "Damaged or faulty product": (
        "Arrived broken, stopped working, warranty claims and repairs.",
        "high",
        [
            ("Cracked jar", "The blender jar arrived cracked in the box."),
            ("Stopped working", "My coffee machine stopped heating after a month."),
            ("Warranty claim", "The air fryer fan makes a grinding noise, is it under warranty?"),
            ("Coating peeling", "The non-stick coating of my pan is coming off already."),
            ("Dead on arrival", "The kettle does not switch on at all, the light stays off."),
            ("Leaking", "Water leaks from the bottom of the coffee machine."),
        ],
    ),
    "Account & payment": (
        "Signing in, passwords, declined cards, charges and invoices.",
        "",
        [
            ("Cannot log in", "I forgot my password and the reset e-mail never arrives."),
            ("Card declined", "My card keeps getting declined at checkout."),
            ("Charged twice", "I see two charges on my statement for the same order."),
            ("VAT invoice", "Please send a VAT invoice with our company details."),
            ("Change e-mail", "How do I change the e-mail address on my account?"),
            ("Delete my account", "Please delete my account and my personal data."),
        ],
    ),
    "Product questions": (
        "How to use or care for a product, compatibility, what to buy.",
        "low",
        [
            ("Descaling", "How often should I descale the Barista One and with what?"),
            ("Dishwasher safe?", "Can the cookware set go in the dishwasher?"),
            ("Which blender", "What is the difference between the 900 and the 1200 blender?"),
            ("Recipe settings", "Which speed should I use on the mixer for bread dough?"),
            ("Spare parts", "Do you sell a spare basket for the 5.5L air fryer?"),
            ("Induction", "Does the cookware work on an induction hob?"),
        ],
    ),
}


# Tickets the demo's agents decided no category fits (corrections.ticket_categorize with
# None): the greetings, thanks and calls for a call-back every shop gets. The model trains on
# them as out of scope (models.NO_CATEGORY), so a ticket that says nothing of what it is about
# is left for an agent instead of going to the nearest category.
NO_CATEGORY_EXAMPLES: list[tuple[str, str]] = [
    ("Hello", "Hello, is anybody reading these e-mails?"),
    ("Quick question", "Hi, quick question when you have a minute."),
    ("Call me", "Could someone phone me? It is easier to explain on the phone."),
    ("Following up", "Just following up on my e-mail from yesterday."),
    ("Thank you", "Thanks for sorting it out last week, great service!"),
    ("Opening hours", "Is your shop open on Sundays?"),
    ("Need some help", "Hi, I need your help with something, please get back to me."),
]


def labelled_texts() -> tuple[list[str], list[str]]:
    """The examples as triage reads a ticket (`ticket_text`), and their category names."""
    from triage.arrival import ticket_text

    texts, labels = [], []
    for name, (_, _, examples) in CATEGORIES.items():
        for subject, body in examples:
            texts.append(ticket_text(subject, body))
            labels.append(name)
    return texts, labels
