from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "NHSmail accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from carehome_portal.middleware import session_started

        user_logged_in.connect(session_started, dispatch_uid="session_started")

        from . import worklistcounts

        worklistcounts.connect()
