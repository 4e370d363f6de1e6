"""Django admin for everything without a dedicated page. Text is shown through the default
(escaping) rendering; nothing here builds HTML from prompt or model text."""

from django.contrib import admin

from .models import Invitation


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "role", "invited_by", "expires_at", "accepted_by", "accepted_at"]
    readonly_fields = ["token"]
