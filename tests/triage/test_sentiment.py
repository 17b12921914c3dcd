"""Sentiment read as a support message: the words a request is put with are not a feeling."""

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from helpdesk.reading import clean_message
from tests.helpers import post_ticket
from triage import reading


def read(text: str):
    """The sentiment of a message as POST /tickets reads it: its cleaned words."""
    return reading.sentiment_of(clean_message(text))


@pytest.mark.parametrize(
    "text",
    [
        "I was charged twice for my order, please refund one of them. Thanks",
        "The tracking link says delivered but nothing arrived at my door. "
        "Could you check with the courier please?",
        "Where is my parcel?? Thanks in advance",
        "Could you tell me where my parcel is? Many thanks!",
        "Charged twice\nI was charged twice for order BH-1042, please refund one. Thanks\n\nSam",
        "Can you send me a return label? Thanks, Sam Smith",
        "This is the third time I am writing. Nobody has replied. Please sort this out.",
        "Dear support, I hope you can help: my card was declined at the till.",
    ],
)
def test_a_complaint_put_politely_is_not_positive(text):
    assert SentimentIntensityAnalyzer().polarity_scores(text)["compound"] >= 0.05  # VADER's read
    assert read(text).label != "positive"


@pytest.mark.parametrize(
    "text",
    [
        "Thanks so much, the replacement arrived and works great!",
        "Thank you, that fixed it!",
        "The replacement came today and the kettle is perfect. Thanks!",
        "The replacement came today and the kettle is perfect. Thanks!\nSam",
        "I really appreciate your help",
        "I like the new kettle a lot",
    ],
)
def test_thanks_and_liking_stay_positive(text):
    assert read(text).label == "positive"


def test_anger_with_a_please_is_still_past_the_priority_rule():
    sentiment = reading.sentiment_of("Worst service ever, I am furious. Please refund me now")

    assert sentiment.label == "negative" and sentiment.score <= -0.8


def test_a_negation_does_not_reach_into_the_next_sentence():
    text = "WHERE IS MY ORDER??? I ORDERED 3 WEEKS AGO AND NOTHING. WORST SHOP EVER"
    assert SentimentIntensityAnalyzer().polarity_scores(text)["compound"] > 0  # VADER, whole

    assert reading.sentiment_of(text).label == "negative"
    assert reading.sentiment_of("Still nothing\nWorst service I have had").label == "negative"


def test_a_negation_inside_a_sentence_still_turns_it():
    assert reading.sentiment_of("The new kettle is not good at all.").label == "negative"
    assert reading.sentiment_of("The refund was not a problem, all sorted.").label != "negative"


def test_vaders_own_lexicon_is_left_as_it_ships():
    reading.sentiment_of("please")  # the project's analyzer exists

    assert SentimentIntensityAnalyzer().lexicon["please"] == 1.3


@pytest.mark.django_db
def test_a_polite_e_mail_about_a_missing_parcel_is_not_stored_as_positive(api):
    body = (
        "Hi,\n\nThe tracking link says delivered but nothing arrived at my door. Could you "
        "check with the courier please?\n\nKind regards\n\nPriya Shah\nSenior Buyer | Acme Ltd"
    )

    answer = post_ticket(api, subject="RE: Your order has shipped", body=body)

    assert answer["triage"]["sentiment"]["label"] == "neutral"
    assert answer["ticket"]["sentiment"] == "neutral"
