"""Categories with agent-labelled tickets and a model trained on them (the real encoder)."""

import pytest

from knowledge.backends.local import shared_encoder
from tests.factories import TicketFactory
from triage.models import Category
from triage.services import training_examples, triage_model_train

EXAMPLES = {
    "Refunds": [
        ("Refund not received", "I returned my blender two weeks ago and still have no refund."),
        ("Money back", "When will the money for my returned kettle be back on my card?"),
        ("Refund status", "You said the refund was issued but my bank shows nothing."),
        ("Return refund", "I sent the toaster back, how long until I am refunded?"),
        ("Refund please", "Please refund my order, the mixer was returned last week."),
        ("Where is my refund", "The return was accepted ten days ago, where is my refund?"),
    ],
    "Delivery": [
        ("Parcel late", "My parcel was due on Monday and it still has not arrived."),
        ("Tracking", "The tracking page has not moved for five days, where is my order?"),
        ("Not delivered", "The courier says delivered but there is no parcel at my door."),
        ("Shipping delay", "How long does shipping take? My order is a week late."),
        ("Delivery address", "The delivery went to my old address, can you redirect the courier?"),
        ("Missing package", "My package never arrived and the carrier is not answering."),
    ],
    "Account": [
        ("Cannot log in", "I forgot my password and the reset e-mail never arrives."),
        ("Locked out", "My account is locked after too many sign in attempts."),
        ("Change e-mail", "How do I change the e-mail address on my account?"),
        ("Login problem", "The website says my password is wrong but it is right."),
        ("Two factor", "I lost my phone and cannot get the two factor code to sign in."),
        ("Delete account", "Please delete my account and my personal data."),
    ],
}


def embed(texts):
    import numpy as np

    encoder = shared_encoder()
    return np.stack([encoder.encode_queries([t, t])[0] for t in texts])


@pytest.fixture
def categories():
    made = {name: Category.objects.create(name=name) for name in EXAMPLES}
    for name, rows in EXAMPLES.items():
        for subject, body in rows:
            TicketFactory(subject=subject, body=body, category=made[name], category_source="agent")
    texts, labels, ids = training_examples()
    triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)
    return made
