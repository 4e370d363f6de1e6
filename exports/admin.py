from django.contrib import admin

from .models import Export


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Read-only: exports are made and rebuilt through the export pages, API or command (services)."""

    list_display = ("id", "name", "status", "progress", "created_by", "created", "finished_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("name", "params", "status", "progress", "counters", "error", "directory", "manifest_sha256",
                       "created_by", "created", "finished_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
