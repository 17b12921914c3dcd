from django.urls import path

from tickets import apis

urlpatterns = [
    path("tickets", apis.TicketListApi.as_view(), name="ticket-list"),
    path("tickets/<int:pk>", apis.TicketDetailApi.as_view(), name="ticket-detail"),
    path("tickets/<int:pk>/context", apis.TicketContextApi.as_view(), name="ticket-context"),
    path("tickets/<int:pk>/messages", apis.TicketMessagesApi.as_view(), name="ticket-messages"),
    path("tickets/<int:pk>/feedback", apis.TicketFeedbackApi.as_view(), name="ticket-feedback"),
    path("inbound/email", apis.InboundEmailApi.as_view(), name="inbound-email"),
]
