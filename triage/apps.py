from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "triage"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

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
