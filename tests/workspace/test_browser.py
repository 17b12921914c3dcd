"""The workspace as an agent uses it, in a real browser: Playwright driving Debian's Chromium
against pytest-django's live server (a transactional test: the server thread reads what the
test committed).

Log in, filter the queue, open a ticket, read the customer 360 and the suggestions, insert a
macro and a suggestion into a reply and send it (the e-mail leaves through the outbox), add a
note, mark a suggestion helpful, change the status, open the dashboard and KB search; as an
admin, run "Sync now" and search what it indexed. A screenshot of each page goes to
.artifacts/screenshots/ (printed).

Skipped only where Chromium is missing on a developer's machine; in CI (CI=true, where .ci/run
installs it) a missing Chromium fails.
"""

import importlib
import os
import re
from io import StringIO
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail

from knowledge.models import Article, SyncJob
from knowledge.services import kb_sync_start
from tests import mailshapes
from tests.factories import OrderFactory, SuggestionFactory, TicketFactory
from tickets.inbound import email_receive
from tickets.models import EmailOutbox, Feedback, Macro, Message, Ticket
from tickets.services import message_create, ticket_create

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(settings.BASE_DIR) / ".artifacts" / "screenshots"
PASSWORD = "a-long-test-password"

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def browser_page(monkeypatch):
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # plain synchronous code between its steps.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def agent_user(transactional_db):
    # An earlier transactional test may have flushed the migration's rows: make them again.
    importlib.import_module("helpdesk.migrations.0003_support_agent_group").create_group(apps, None)
    importlib.import_module("helpdesk.migrations.0004_support_agent_macros").grant(apps, None)
    importlib.import_module("helpdesk.migrations.0005_support_agent_kb_attachments").grant(
        apps, None
    )
    importlib.import_module("helpdesk.migrations.0006_support_agent_incident_replies").grant(
        apps, None
    )
    from helpdesk.staff import support_agent_group

    user = get_user_model().objects.create_user(
        "agent", "agent@brightside.example", PASSWORD, is_staff=True
    )
    user.groups.add(support_agent_group())
    return user


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name >> text=Helpdesk")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_an_agent_works_a_ticket_in_the_browser(live_server, browser_page, agent_user, small_kb):
    page = browser_page
    order = OrderFactory(customer__email="ana@example.com", customer__name="Ana Souza")
    ticket = TicketFactory(
        customer=order.customer,
        order=order,
        subject="Cracked blender jar",
        body="My ProBlend arrived with a cracked jar. How do I get my money back?",
        priority="high",
        assignee=agent_user,
    )
    suggestion = SuggestionFactory(
        ticket=ticket,
        rank=1,
        score=0.91,
        title="Damaged on arrival",
        snippet="Send us a photo of the damage and we ship a replacement within two days.",
        source="https://brightside.example/help/orders/damaged.html",
    )
    SuggestionFactory(ticket=ticket, rank=2, score=0.42, title="Refunds", snippet="Refunds…")
    TicketFactory(subject="Someone else's urgent question", priority="urgent")
    Macro.objects.create(name="Apology", body="Hi {{ customer.first_name }}, sorry about the jar.")

    # Log in.
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "agent")
    page.fill("#id_password", PASSWORD)
    shot(page, "01-login")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name >> text=Helpdesk")
    assert "permission to view or edit anything" not in page.content()

    # The queue, filtered to mine.
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    assert page.locator("#result_list tbody tr").count() == 2
    page.click("#changelist-filter a:text-is('Mine')")
    page.wait_for_url("**assignee=mine**")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1 and "Cracked blender jar" in rows.first.inner_text()
    shot(page, "02-queue-mine")
    # Every column fits beside the filters (none hidden under them): a long e-mail wraps.
    last = page.locator("#result_list thead th").last.bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert last["x"] + last["width"] <= filters["x"], (last, filters)

    # The ticket page: 360 and suggestions.
    page.click(f"#result_list a:text-is('{ticket.number}')")
    page.wait_for_selector("#conversation")
    assert "Ana Souza" in page.inner_text("#customer")
    assert order.number in page.inner_text("#customer")
    card = page.locator(f"[data-suggestion-id='{suggestion.pk}']")
    assert "replacement within two days" in card.inner_text()
    shot(page, "03-ticket")

    # Insert a suggestion into a reply and send it.
    page.click("#macros button:text-is('Apology')")
    card.locator("[data-insert]").click()
    reply = page.input_value("#id_reply-body")
    assert reply.startswith("Hi Ana, sorry about the jar.\n\nSend us a photo")
    assert reply.endswith("https://brightside.example/help/orders/damaged.html")
    shot(page, "04-reply-drafted")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector("text=Reply sent to ana@example.com.")
    (sent,) = mail.outbox
    assert sent.to == ["ana@example.com"] and f"[{ticket.number}]" in sent.subject
    assert "we ship a replacement within two days" in sent.body
    assert "https://brightside.example/help/orders/damaged.html" in sent.body
    assert not EmailOutbox.objects.exists()

    # A note, then feedback on the suggestion.
    page.fill("#id_note-body", "Photo received by phone; replacement BH-1 ordered.")
    page.click("#note-form button[type=submit]")
    page.wait_for_selector("text=Note added.")
    assert Message.objects.filter(ticket=ticket, kind="note").count() == 1
    card = page.locator(f"[data-suggestion-id='{suggestion.pk}']")
    card.locator("button[value=helpful]").click()
    page.wait_for_selector("text=Recorded: “Damaged on arrival” helped.")
    feedback = Feedback.objects.get()
    assert (feedback.suggestion_id, feedback.helpful, feedback.user) == (
        suggestion.pk,
        True,
        agent_user,
    )

    # Change the status and the priority: both on the ticket's history, with who did it.
    page.select_option("#id_controls-status", "pending")
    page.select_option("#id_controls-priority", "urgent")
    page.click("#controls button[type=submit]")
    page.wait_for_selector(f"text={ticket.number} updated.")
    ticket.refresh_from_db()
    assert ticket.status == "pending" and ticket.first_response_at is not None
    assert ticket.priority == "urgent"
    conversation = page.inner_text("#conversation")
    assert "Agent reply" in conversation and "Internal note" in conversation
    history = page.inner_text("#history")
    assert f"ticket_changed {ticket.number}: priority high → urgent user:agent" in history, history
    shot(page, "05-ticket-worked")

    # The dashboard, from the admin index: today's tickets, the open work, the helpful rate.
    page.goto(f"{live_server.url}/admin/")
    page.click("#workspace-links a:text-is('Dashboard')")
    page.wait_for_selector("#chart-per-day svg")
    assert page.inner_text("#kpi-created") == "2"
    assert page.inner_text("#kpi-helpful") == "100%"
    assert page.locator("svg.hd-chart").count() == 4  # nothing was rated unhelpful
    assert "No suggestion was rated unhelpful" in page.inner_text("#chart-least")
    assert "Damaged on arrival" in page.inner_text("#chart-most")
    shot(page, "06-dashboard")

    # KB search: what the retriever returns for the customer's question, with scores.
    page.goto(f"{live_server.url}/admin/")
    page.click("#workspace-links a:text-is('KB search')")
    assert kb_sync_start(trigger=SyncJob.Trigger.COMMAND).status == "succeeded"
    page.fill("#id_q", "how many days until my parcel arrives with standard shipping?")
    page.click("#kb-search button[type=submit]")
    page.wait_for_selector("#kb-results")
    first = page.locator("#kb-results [data-rank='1']")
    assert "Shipping options" in first.inner_text()
    assert re.search(r"score \d+\.\d{4}", first.inner_text())
    shot(page, "07-kb-search")


LENA = {"email": "lena@example.com", "name": "Lena Vogel"}


def new_ticket(customer: dict, subject: str, body: str) -> dict:
    """POST /tickets' answer for a ticket made through the service, as the API makes it."""
    return ticket_create(
        payload={"customer": customer, "subject": subject, "body": body}, actor="test"
    ).body


def test_an_agent_sees_why_suggestions_were_left_out_in_the_browser(
    live_server, browser_page, agent_user
):
    """Tickets in another language than the KB's, through the real pipeline (the sample KB,
    English, synced here: an earlier transactional test may have flushed the session's)."""
    page = browser_page
    assert kb_sync_start(trigger=SyncJob.Trigger.COMMAND).status == "succeeded"
    german = new_ticket(
        LENA,
        "Passwort vergessen",
        "Ich habe mein Passwort vergessen und bekomme keine E-Mail zum Zurücksetzen. Wie komme "
        "ich wieder in mein Konto?",
    )
    assert german["suggestions"] == []
    english = new_ticket(
        {"email": "ana@example.com", "name": "Ana Souza"},
        "Broken blender",
        "My blender arrived with a cracked jar, how do I get a replacement?",
    )
    thread = Ticket.objects.get(pk=english["ticket"]["id"])
    message_create(
        ticket=thread,
        kind="reply",
        body="Sorry to hear that. Please send us a photo of the damage and we will ship a new jar.",
        actor="user:agent",
    )
    spanish = message_create(
        ticket=thread,
        kind="reply",
        role="customer",
        body="No tengo cámara en este momento. ¿Puedo devolver la batidora sin foto y recibir "
        "el reembolso?",
        actor="test",
    )
    assert [s.title for s in spanish.suggestions] == ["Damaged or Broken Item on Arrival"]

    log_in(page, live_server, "agent")

    page.goto(f"{live_server.url}/admin/tickets/ticket/{german['ticket']['id']}/change/")
    note = page.locator("#suggestions-note")
    assert note.inner_text() == (
        "No suggestion: the ticket is in 'de', the knowledge base's articles are in 'en'. "
        "5 weak matches across the languages left out."
    )
    assert "No suggestions for this ticket." not in page.inner_text("#suggestions")
    shot(page, "10-ticket-in-another-language")

    page.goto(f"{live_server.url}/admin/tickets/ticket/{thread.pk}/change/")
    assert page.locator("#suggestions-note").inner_text() == (
        "The latest message is in 'es', the knowledge base's articles are in 'en': only "
        "suggestions close in meaning across the languages are shown (1 of 5)."
    )
    assert page.locator("#suggestions .hd-suggestion").count() == 1
    assert "Damaged or Broken Item on Arrival" in page.inner_text("#suggestions")
    shot(page, "11-follow-up-in-another-language")


@pytest.fixture
def small_kb(settings, tmp_path):
    """A KB folder of its own: an earlier transactional test may have flushed the session's
    sample KB."""
    settings.KB_SOURCE = str(tmp_path)
    (tmp_path / "returns.md").write_text(
        "# Returns policy\n\nYou can return any item within 30 days of delivery.\n"
    )
    (tmp_path / "shipping.md").write_text(
        "# Shipping options\n\nStandard shipping takes 3-5 business days.\n"
    )
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9".encode("latin-1"))
    return tmp_path


@pytest.fixture
def admin_user(transactional_db):
    return get_user_model().objects.create_superuser("admin", "admin@brightside.example", PASSWORD)


def test_an_admin_runs_sync_now_in_the_browser(live_server, browser_page, admin_user, small_kb):
    page = browser_page
    log_in(page, live_server, "admin")

    page.goto(f"{live_server.url}/admin/knowledge/article/")
    page.click("#sync-now button")
    page.wait_for_selector("text=started: succeeded.")
    job = SyncJob.objects.get(trigger="manual")
    assert (job.status, job.added, job.failed) == ("succeeded", 2, 1)
    assert "latin1.txt" in page.inner_text(".field-file_errors")
    shot(page, "08-sync-job")

    page.goto(f"{live_server.url}/admin/knowledge/article/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == Article.objects.count() == 2
    assert "Last sync:" in page.inner_text(".hd-kb-tools")
    shot(page, "09-articles")

    page.goto(f"{live_server.url}/admin/knowledge/article/search/?q=how+long+is+shipping")
    assert "Shipping options" in page.inner_text("#kb-results [data-rank='1']")


def test_an_admin_rolls_triage_back_to_an_earlier_model_in_the_browser(
    live_server, browser_page, admin_user
):
    from tests.triage.test_classifier import corpus, embed
    from triage.models import Category, TriageModel
    from triage.selectors import current_classifier
    from triage.services import triage_model_train

    texts, labels = corpus(8, seed=0)
    ids = {name: Category.objects.create(name=name).pk for name in sorted(set(labels))}
    first = triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)
    second = triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)

    page = browser_page
    log_in(page, live_server, "admin")

    page.goto(f"{live_server.url}/admin/triage/triagemodel/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2 and "CV IN-SCOPE ACCURACY" in page.inner_text("#result_list thead")
    page.check(f"input[name=_selected_action][value='{first.pk}']")
    page.select_option("select[name=action]", "make_current")
    page.click("button[name=index]")
    page.wait_for_selector("text=Model 1 is current")
    shot(page, "10-triage-model-rolled-back")

    assert TriageModel.objects.get(current=True).pk == first.pk != second.pk
    assert current_classifier()[1].pk == first.pk


def demo_categories_with_a_model(*, no_category: bool = False) -> None:
    """seed_demo's categories, its agent-labelled tickets (with `no_category`, also those its
    agents decided no category fits), and a model trained on them (real encoder)."""
    from tests.triage.conftest import embed
    from triage.demo import CATEGORIES, NO_CATEGORY_EXAMPLES
    from triage.models import Category
    from triage.services import training_examples, triage_model_train

    for name, (description, priority, examples) in CATEGORIES.items():
        category = Category.objects.create(
            name=name, description=description, default_priority=priority
        )
        for subject, body in examples:
            TicketFactory(subject=subject, body=body, category=category, category_source="agent")
    for subject, body in NO_CATEGORY_EXAMPLES if no_category else ():
        TicketFactory(subject=subject, body=body, category=None, category_source="agent")
    texts, labels, ids = training_examples()
    triage_model_train(texts=texts, labels=labels, ids=ids, embed=embed)


def test_an_agent_sees_a_category_read_from_the_customers_follow_up_in_the_browser(
    live_server, browser_page, agent_user
):
    """seed_demo's categories and labelled tickets, a model trained on them (real encoder); a
    ticket that says nothing ("Help") gets its category from the customer's follow-up."""
    demo_categories_with_a_model()
    created = new_ticket(LENA, "Help", "Hi,\n\ncan someone help me please?\n\nThanks,\nLena")
    assert created["ticket"]["category"] is None
    ticket = Ticket.objects.get(pk=created["ticket"]["id"])
    posted = message_create(
        ticket=ticket,
        kind="reply",
        role="customer",
        body="Sorry, I should have said: I sent the air fryer back ten days ago and I still have "
        "not got my money back.\n\nCheers,\nLena",
        actor="test",
    )
    assert posted.triage["status"] == "applied", posted.triage

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")

    assert page.locator("#id_controls-category option:checked").inner_text() == (
        "Returns & refunds"
    )
    controls = page.inner_text("#controls")
    assert re.search(r"set by model \(0\.\d\d\) on the customer's follow-up", controls), controls
    shot(page, "12-category-from-follow-up")


def test_an_agent_decides_that_no_category_fits_in_the_browser(
    live_server, browser_page, agent_user
):
    """A ticket that says nothing ("Help") is left for an agent; the agent decides none of the
    categories fits, which the next training learns as out of scope."""
    demo_categories_with_a_model(no_category=True)
    created = new_ticket(LENA, "Help", "Help")
    assert created["triage"]["status"] == "out_of_scope", created["triage"]
    ticket = Ticket.objects.get(pk=created["ticket"]["id"])

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")
    assert page.inner_text("#triage-suggestion") == "Triage: none of the categories fits."
    assert page.locator("#id_controls-category option:checked").inner_text() == "—"
    page.select_option("#id_controls-category", label="None of these categories")
    shot(page, "22-none-of-these-categories")
    page.click("#controls button[type=submit]")
    page.wait_for_selector("#controls >> text=decided by an agent")

    ticket.refresh_from_db()
    assert (ticket.category, ticket.category_source) == (None, "agent")
    assert page.locator("#id_controls-category option:checked").inner_text() == (
        "None of these categories"
    )
    assert page.locator("#triage-suggestion").count() == 0
    shot(page, "23-decided-no-category")

    from triage.models import NO_CATEGORY
    from triage.services import training_examples

    texts, labels, _ = training_examples()
    assert labels.count(NO_CATEGORY) == 8 and texts[-1] == "Help\nHelp"


def test_an_agent_chooses_the_category_triage_suggested_in_the_browser(
    live_server, browser_page, agent_user, settings
):
    """Below the threshold triage leaves the category to the agent: the page shows what it
    read (language, sentiment) and proposes; "Choose it" then Save applies the proposal as the
    agent's choice."""
    demo_categories_with_a_model()
    settings.TRIAGE_APPLY_THRESHOLD = 0.999  # nothing is applied: every category is proposed
    created = new_ticket(
        LENA,
        "Refund",
        "I sent the air fryer back ten days ago and I still have not got my money back. "
        "This is really frustrating.",
    )
    triage = created["triage"]
    assert triage["status"] == "suggested" and created["ticket"]["category"] is None, triage
    ticket = Ticket.objects.get(pk=created["ticket"]["id"])

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")

    suggestion = page.inner_text("#triage-suggestion")
    assert f"Triage suggests {triage['category']}" in suggestion, suggestion
    assert page.inner_text("#language") == "English"
    assert page.inner_text("#sentiment").startswith("negative")
    shot(page, "13-triage-suggestion")
    page.click("[data-choose-category]")
    assert page.locator("#id_controls-category option:checked").inner_text() == triage["category"]
    page.click("#controls button[type=submit]")
    page.wait_for_selector("#controls >> text=set by agent")

    ticket.refresh_from_db()
    assert (ticket.category.name, ticket.category_source) == (triage["category"], "agent")
    assert page.locator("#triage-suggestion").count() == 0

    page.goto(f"{live_server.url}/admin/dashboard/")
    assert "Applied (0 of 1 read, at 0.999)" in page.inner_text("#triage")
    shot(page, "13b-dashboard-triage")


def test_an_agent_chooses_the_order_the_customer_named_in_the_browser(
    live_server, browser_page, agent_user
):
    """Lena names two of her orders: the ticket is left without one, the page offers both, and
    "Choose it" then Save links the one the agent picks (as the agent's)."""
    created = new_ticket(LENA, "Two parcels", "Hello")  # Lena is a customer now
    lena = Ticket.objects.get(pk=created["ticket"]["id"]).customer
    came = OrderFactory(customer=lena, number="BH-4821703")
    missing = OrderFactory(customer=lena, number="BH-4821701")
    created = new_ticket(
        LENA, "Two parcels", "BH-4821703 came yesterday, but BH-4821701 is still missing."
    )
    assert created["ticket"]["order_id"] is None
    assert created["triage"]["orders_mentioned"] == ["BH-4821703", "BH-4821701"]

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{created['ticket']['id']}/change/")
    named = page.inner_text("#orders-mentioned")
    assert "The customer's words name BH-4821703" in named and "BH-4821701" in named, named
    shot(page, "14-orders-mentioned")
    page.click(f"[data-choose-order='{missing.pk}']")
    assert page.locator("#id_controls-order option:checked").inner_text().startswith("BH-4821701")
    page.click("#controls button[type=submit]")
    page.wait_for_selector("#controls >> text=set by an agent")

    ticket = Ticket.objects.get(pk=created["ticket"]["id"])
    assert (ticket.order_id, ticket.order_source) == (missing.pk, "agent")
    assert page.locator("#orders-mentioned").count() == 0
    ordered = page.locator("#customer li", has=page.locator("strong", has_text=missing.number))
    assert "this ticket" in ordered.inner_text()
    assert came.pk != ticket.order_id
    # The ticket's history says who linked which order.
    assert f"order — → {missing.number}" in page.inner_text("#history")


def test_an_agent_merges_a_customers_duplicate_in_the_browser(
    live_server, browser_page, agent_user
):
    """Lena wrote twice about one jar (real encoder: the page's similar tickets), Omar once:
    the agent merges Lena's second ticket into her first from the similar tickets' card."""
    assert kb_sync_start(trigger=SyncJob.Trigger.COMMAND).status == "succeeded"
    jar = "My blender jar arrived cracked and it leaks everywhere. How do I get a new jar?"
    first = new_ticket(LENA, "Cracked jar", f"Hi,\n\n{jar}\n\nThanks,\nLena")["ticket"]
    again = new_ticket(
        LENA, "Jar still broken", f"{jar} I wrote last week and nobody answered!\n\nLena"
    )["ticket"]
    omar = new_ticket({"email": "omar@example.com", "name": "Omar"}, "Cracked jar", jar)["ticket"]

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{first['id']}/change/")
    similar = page.locator("#similar")
    assert (
        "same customer: probable duplicate"
        in similar.locator(f"[data-ticket-id='{again['id']}']").inner_text()
    )
    assert "possible incident" in similar.locator(f"[data-ticket-id='{omar['id']}']").inner_text()
    shot(page, "13-similar-tickets")

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    row = similar.locator(f"[data-ticket-id='{again['id']}']")
    row.locator("button:text-is('Merge into this ticket')").click()
    page.wait_for_selector("#merged-here")

    assert asked and asked[0].startswith(f"Merge {again['number']} into {first['number']}?")
    assert "was merged into this ticket and closed" in page.inner_text(".messagelist")
    note = page.locator("#conversation .hd-kind-note").last.inner_text()
    assert "nobody answered!" in note and again["number"] in note
    assert again["number"] in page.inner_text("#merged-here")
    assert again["number"] not in page.inner_text("#similar")
    shot(page, "14-duplicate-merged")
    assert Ticket.objects.get(pk=again["id"]).merged_into_id == first["id"]


def test_an_agent_answers_an_outage_once_for_every_customer_in_the_browser(
    live_server, browser_page, agent_user
):
    """Three customers cannot log in: the agent links the other two as incidents of the first
    from its similar tickets, then one reply (box ticked) resolves all three and mails each."""
    down = "I cannot log in to my account since this morning, the page just says error 502."
    problem, *others = [
        new_ticket({"email": f"{name}@example.com", "name": name.title()}, "Cannot log in", down)[
            "ticket"
        ]
        for name in ("ana", "ben", "chloe")
    ]

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{problem['id']}/change/")
    for other in others:
        row = page.locator(f"#similar [data-ticket-id='{other['id']}']")
        row.locator("button:text-is('Link as incident of this ticket')").click()
        page.wait_for_selector(f"#incidents [data-ticket-id='{other['id']}']")
    assert "Incidents (2 open)" in page.inner_text("#incidents")

    page.fill("#id_reply-body", "Our login service failed this morning; it works again now.")
    page.check("#id_reply-incidents")
    page.select_option("#id_reply-status", "resolved")
    shot(page, "15-problem-with-incidents")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector(".messagelist")

    assert "Also sent to the customers of 2 incident(s)." in page.inner_text(".messagelist")
    assert "Incidents (0 open)" in page.inner_text("#incidents")
    assert set(Ticket.objects.values_list("status", flat=True)) == {"resolved"}
    shot(page, "16-outage-answered")


def test_a_large_outage_answer_is_queued_then_drained_in_the_browser(
    live_server, browser_page, agent_user, monkeypatch
):
    """Past INCIDENT_REPLIES_INLINE (1 here) the rest of an outage's replies wait for the drain:
    the agent is told, the problem's Incidents card says what waits, and after the drain (the
    per-minute task or cron) it says nothing more."""
    from django.core.management import call_command

    monkeypatch.setattr(settings, "INCIDENT_REPLIES_INLINE", 1)
    down = "The login page says error 502 since this morning."
    problem, *others = [
        new_ticket({"email": f"{name}@example.com"}, "Cannot log in", down)["ticket"]
        for name in ("ana", "ben", "chloe", "dan")
    ]
    Ticket.objects.filter(pk__in=[o["id"] for o in others]).update(problem_id=problem["id"])

    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{problem['id']}/change/")
    page.fill("#id_reply-body", "Our login service failed this morning; it works again now.")
    page.check("#id_reply-incidents")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector(".messagelist")

    assert "2 more are queued" in page.inner_text(".messagelist")
    assert "2 replies to incidents queued" in page.inner_text("#incidents")
    shot(page, "17-outage-replies-queued")
    # What waits is in the admin too (read-only), for agents.
    page.goto(f"{live_server.url}/admin/tickets/incidentreply/")
    assert "2 incident replies" in page.inner_text("#content")

    call_command("incident_replies_drain", stdout=StringIO())
    page.goto(f"{live_server.url}/admin/tickets/ticket/{problem['id']}/change/")
    assert "queued" not in page.inner_text("#incidents")
    for other in others:
        assert Message.objects.filter(ticket_id=other["id"], role="agent").count() == 1


def test_an_agent_sees_that_a_reply_did_not_arrive_in_the_browser(
    live_server, browser_page, agent_user
):
    """The agent answers and leaves the ticket pending; the customer's mail server bounces the
    reply (a Postfix delivery status notification, received as any mail): the ticket is back
    in the queue, open, and its page says the customer did not get the reply, and why."""
    created = new_ticket(LENA, "Parcel missing", "My parcel BH-4821701 never arrived.")
    page = browser_page
    log_in(page, live_server, "agent")
    page.goto(f"{live_server.url}/admin/tickets/ticket/{created['ticket']['id']}/change/")
    page.fill("#id_reply-body", "We have asked the courier; you will hear from us tomorrow.")
    page.select_option("#id_reply-status", "pending")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector(".messagelist")
    (sent,) = Message.objects.filter(ticket_id=created["ticket"]["id"], role="agent")
    assert sent.sent_at is not None

    diagnostic = f"smtp; 550 5.1.1 <{LENA['email']}>: Recipient address rejected: User unknown"
    bounce = mailshapes.postfix_dsn(
        sent.email_message_id, recipient=LENA["email"], diagnostic=diagnostic
    )
    assert email_receive(raw=bounce, actor="mail-relay").status_code == 202

    page.reload()
    reply = page.locator(f"#conversation [data-message-id='{sent.pk}']")
    assert "e-mail not delivered" in reply.inner_text()
    assert (
        f"{LENA['email']} did not get this reply: 550 5.1.1 <{LENA['email']}>: Recipient "
        "address rejected: User unknown"
    ) in reply.inner_text()
    assert "pending → open" in page.inner_text("#history")
    assert "was not delivered (bounced)" in page.inner_text("#history")
    shot(page, "18-reply-not-delivered")
    assert Ticket.objects.get(pk=created["ticket"]["id"]).status == "open"

    # In the queue: marked, and the "Last reply not delivered" filter finds it.
    page.goto(f"{live_server.url}/admin/tickets/ticket/")
    page.click("#changelist-filter a:text-is('Last reply not delivered')")
    page.wait_for_url("**email=not_delivered**")
    (row,) = page.locator("#result_list tbody tr").all()
    assert "Parcel missing" in row.inner_text() and "reply not delivered" in row.inner_text()
    shot(page, "19-queue-reply-not-delivered")
    # The marker leaves every column beside the filters (none hidden under them).
    last = page.locator("#result_list thead th").last.bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert last["x"] + last["width"] <= filters["x"], (last, filters)

    # The mailbox was only full: the agent sends the same reply again.
    page.goto(f"{live_server.url}/admin/tickets/ticket/{created['ticket']['id']}/change/")
    page.click(f"button:text-is('Send again to {LENA['email']}')")
    page.wait_for_selector(".messagelist")
    assert f"The reply is sent again to {LENA['email']}." in page.inner_text(".messagelist")
    assert "e-mail sent" in page.inner_text(f"#conversation [data-message-id='{sent.pk}']")
    assert "the reply sent again" in page.inner_text("#history")


def test_a_customer_rates_the_answer_from_the_resolving_email_in_the_browser(
    live_server, browser_page, agent_user, settings
):
    """The agent resolves the ticket with a reply; the customer follows the e-mail's "Bad" link,
    sees that choice made, says why and sends it; the agent sees it on the ticket page."""
    settings.HELPDESK_PUBLIC_URL = live_server.url
    created = new_ticket(LENA, "Kettle broken", "My kettle stopped heating after a week.")
    page = browser_page
    log_in(page, live_server, "agent")
    ticket_page = f"{live_server.url}/admin/tickets/ticket/{created['ticket']['id']}/change/"
    page.goto(ticket_page)
    page.fill("#id_reply-body", "A replacement kettle ships today.")
    page.select_option("#id_reply-status", "resolved")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector(".messagelist")
    (sent,) = [m for m in mail.outbox if "A replacement kettle" in m.body]
    bad = re.search(r"Bad: (\S+)", sent.body).group(1)

    customer = page.context.browser.new_context().new_page()  # the customer: no staff session
    customer.goto(bad)
    assert customer.locator("input[value=bad]").is_checked()
    customer.fill("textarea", "It took three e-mails to get an answer.")
    shot(customer, "20-customer-rates-the-answer")
    customer.click("button[type=submit]")
    customer.wait_for_selector("#thanks")
    assert "We are sorry it did not go well" in customer.content()
    shot(customer, "21-customer-rating-thanks")
    customer.context.close()

    page.goto(ticket_page)
    assert "rated bad by the customer" in page.inner_text("#satisfaction")
    assert "satisfaction_rated" in page.inner_text("#history")
