from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"

    def ready(self) -> None:
        # Provider webhooks (django-anymail) hand inbound mail to the one inbound service.
        from anymail.signals import inbound

        from tickets.webhooks import anymail_inbound

        inbound.connect(anymail_inbound, dispatch_uid="tickets.anymail_inbound")
