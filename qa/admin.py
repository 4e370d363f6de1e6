from django.contrib import admin

from .models import Feedback, Review


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews are an audit trail: readable here, written only through the review pages."""

    list_display = ["id", "target_kind", "target_id", "decision", "reviewer", "created"]
    list_filter = ["target_kind", "decision"]
    search_fields = ["note", "edited_text"]
    readonly_fields = [f.name for f in Review._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["id", "to_user", "from_user", "task", "dialog", "created", "read_at"]
    list_filter = ["read_at"]
    raw_id_fields = ["to_user", "from_user", "task", "dialog"]
    search_fields = ["text", "to_user__username"]
