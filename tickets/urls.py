from django.urls import path

from tickets import apis, survey, webhooks
from triage.apis import TicketSimilarApi

urlpatterns = [
    path("tickets", apis.TicketListApi.as_view(), name="ticket-list"),
    path("tickets/<int:pk>", apis.TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<int:pk>/context", apis.TicketContextApi.as_view(), name="ticket-context"),
    path("tickets/<int:pk>/history", apis.TicketHistoryApi.as_view(), name="ticket-history"),
    path("tickets/<int:pk>/messages", apis.TicketMessagesApi.as_view(), name="ticket-messages"),
    path(
        "tickets/<int:pk>/messages/<int:message_id>/resend",
        apis.TicketMessageResendApi.as_view(),
        name="ticket-message-resend",
    ),
    path("tickets/<int:pk>/feedback", apis.TicketFeedbackApi.as_view(), name="ticket-feedback"),
    path("tickets/<int:pk>/similar", TicketSimilarApi.as_view(), name="ticket-similar"),
    path("tickets/<int:pk>/merge", apis.TicketMergeApi.as_view(), name="ticket-merge"),
    path("inbound/email", apis.InboundEmailApi.as_view(), name="inbound-email"),
    # The customer's satisfaction page (HTML, public: the signed token is the key).
    path("survey/<str:token>", survey.survey_view, name="survey"),
    # Provider webhooks (django-anymail), authenticated by the provider's secret, not API keys.
    path("inbound/ses", webhooks.SesInboundWebhook.as_view(), name="inbound-ses"),
    # Mailgun posts the raw MIME (`body-mime`) only to a URL that ends in "mime".
    path("inbound/mailgun/mime", webhooks.MailgunInboundWebhook.as_view(), name="inbound-mailgun"),
]
