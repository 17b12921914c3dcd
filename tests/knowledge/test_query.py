"""The structured query: a ticket's subject and messages, read as a person reads them."""

from knowledge.query import AGENT, CUSTOMER, TicketQuery, Turn, as_query, ticket_query


def test_one_message_ticket_reads_subject_and_cleaned_body_as_one_text():
    query = ticket_query(
        subject="Payment",
        messages=[
            (
                CUSTOMER,
                "Hi,\nmy card keeps getting declined at checkout.\nWhat can I do?\nCheers\nTom",
            )
        ],
    )
    parts = query.parts()
    assert parts.focus == "Payment\nmy card keeps getting declined at checkout.\nWhat can I do?"
    # Focus and recent are the same text: a one-message ticket costs one encoder pass.
    assert parts.recent == parts.focus
    assert parts.full == parts.focus


def test_newlines_inside_a_message_are_not_turns():
    query = ticket_query(messages=[(CUSTOMER, "line one\nline two\nline three")])
    assert len(query.turns) == 1
    assert query.parts().focus == "line one\nline two\nline three"


def test_question_only_in_the_subject_is_still_read():
    query = ticket_query(
        subject="How do I reset my password?", messages=[(CUSTOMER, "Hello,\nsee subject.\nThanks")]
    )
    assert query.parts().focus.startswith("How do I reset my password?")


def test_thread_focus_is_the_latest_customer_message_and_recent_adds_the_turn_before():
    query = ticket_query(
        subject="Blender",
        messages=[
            {"role": CUSTOMER, "text": "My blender arrived broken."},
            {"role": AGENT, "text": "Sorry to hear that. Would you like a replacement?"},
            {"role": CUSTOMER, "text": "No, I would rather have my money back."},
        ],
    )
    parts = query.parts()
    assert parts.focus == "No, I would rather have my money back."
    assert parts.recent == (
        "Sorry to hear that. Would you like a replacement?\nNo, I would rather have my money back."
    )
    assert parts.full.startswith("Blender\nMy blender arrived broken.")


def test_agent_message_after_the_customer_does_not_become_the_focus():
    query = TicketQuery.of(
        turns=[Turn(CUSTOMER, "Where is my parcel?"), Turn(AGENT, "Let me check that for you.")]
    )
    assert query.parts().focus == "Where is my parcel?"


def test_reply_prefixes_and_ticket_tokens_leave_the_subject():
    query = ticket_query(subject="Re: Fwd: [HD-000123] Broken kettle", messages=[])
    assert query.subject == "Broken kettle"


def test_unknown_role_is_read_as_the_customer():
    query = ticket_query(messages=[{"role": "bot", "text": "refund please"}])
    assert query.turns == (Turn(CUSTOMER, "refund please"),)


def test_a_plain_string_is_one_customer_message():
    query = as_query("Hi,\nwhere is my order?\nThanks,\nAna")
    assert query.turns == (Turn(CUSTOMER, "where is my order?"),)
    assert as_query(query) is query


def test_empty_ticket_is_empty():
    assert ticket_query(subject="  ", messages=[(CUSTOMER, "")]).is_empty()
    assert TicketQuery().parts().focus == ""


def test_a_long_message_is_cut_for_retrieval():
    query = TicketQuery.of(turns=[Turn(CUSTOMER, "word " * 5000)])
    assert len(query.parts().focus) <= 4000
