"""Django admin for everything without a dedicated page. Text is shown through the default
(escaping) rendering; nothing here builds HTML from prompt or model text."""

from django.contrib import admin

from .models import Dialog, DialogTurn


class DialogTurnInline(admin.StackedInline):
    model = DialogTurn
    extra = 0
    raw_id_fields = ["chosen", "custom_from"]


@admin.register(Dialog)
class DialogAdmin(admin.ModelAdmin):
    list_display = ["id", "annotator", "status", "created", "finished_at"]
    list_filter = ["status"]
    inlines = [DialogTurnInline]
