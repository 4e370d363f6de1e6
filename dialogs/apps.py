from django.apps import AppConfig


class DialogsConfig(AppConfig):
    name = "dialogs"
    default_auto_field = "django.db.models.BigAutoField"
