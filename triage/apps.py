from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"

    def ready(self):
        from django.db.models.signals import post_delete, post_save, pre_delete

        from triage.models import Category

        def forget(**kwargs):
            # A category changed here: triage reads the active ones again on the next ticket
            # (other processes within triage.services.RECHECK_SECONDS).
            try:
                from triage.services import forget_current
            except ImportError:  # no numpy (the Lambda): nothing is cached
                return
            forget_current()

        post_save.connect(forget, sender=Category, weak=False, dispatch_uid="triage-forget-save")
        post_delete.connect(forget, sender=Category, weak=False, dispatch_uid="triage-forget-del")

        def unlabel(instance, **kwargs):
            # Its tickets lose their category (SET_NULL, right after this) and with it who set
            # it: an agent's label must not turn into an agent's decision that no category
            # fits (training's NO_CATEGORY rows).
            from tickets.models import Ticket

            Ticket.objects.filter(category=instance).update(category_source="")

        pre_delete.connect(unlabel, sender=Category, weak=False, dispatch_uid="triage-unlabel")
