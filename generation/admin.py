"""Django admin registrations. Text fields render through the default (escaped) widgets and displays."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from .models import Campaign, CampaignRunner, Endpoint, Generation, PrePrompt, PrePromptVersion, SavedPromptFilter
from .services.endpoints import endpoint_check_health


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "is_active", "supports_system_role", "max_concurrency",
                    "max_tokens", "context_length", "health"]
    list_filter = ["is_active", "supports_system_role", "in_dialog_pool"]
    search_fields = ["name", "model"]
    readonly_fields = ["last_health", "created"]
    actions = ["check_health"]

    @admin.display(description=_("health"))
    def health(self, obj):
        if not obj.last_health:
            return "—"
        return ("ok" if obj.last_health.get("ok") else "DOWN: " + str(obj.last_health.get("detail", ""))[:80])

    @admin.action(description=_("Check health now (GET /v1/models)"))
    def check_health(self, request, queryset):
        for endpoint in queryset.exclude(base_url=""):
            result = endpoint_check_health(endpoint=endpoint)
            self.message_user(request, f"{endpoint.name}: {'ok' if result.ok else result.detail}",
                              messages.SUCCESS if result.ok else messages.WARNING)


class PrePromptVersionInline(admin.TabularInline):
    model = PrePromptVersion
    extra = 0
    readonly_fields = ["version", "text", "created"]
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # new versions come from the pre-prompt page (edit creates a version)


@admin.register(PrePrompt)
class PrePromptAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "intent", "targets_criterion", "placement", "is_active"]
    list_filter = ["intent", "placement", "is_active"]
    inlines = [PrePromptVersionInline]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "samples", "created", "started_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["status", "started_at", "finished_at", "created"]
    filter_horizontal = ["endpoints", "preprompts"]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt_excerpt", "endpoint", "preprompt_version", "sample_index", "status",
                    "completion_tokens", "latency_ms", "attempts", "imported", "echoes_preprompt"]
    list_filter = ["status", "imported", "echoes_preprompt", "endpoint", "campaign"]
    search_fields = ["text", "prompt__text"]
    list_select_related = ["prompt", "endpoint", "preprompt_version__preprompt"]
    raw_id_fields = ["prompt", "campaign"]
    readonly_fields = ["raw_text", "params", "lease_owner", "lease_until", "next_attempt_at", "created",
                       "finished_at"]

    @admin.display(description=_("prompt"))
    def prompt_excerpt(self, obj):
        return obj.prompt.text[:80]  # plain string: the admin escapes it


@admin.register(CampaignRunner)
class CampaignRunnerAdmin(admin.ModelAdmin):
    list_display = ["campaign", "endpoint", "heartbeat_at", "enqueued_at"]


@admin.register(SavedPromptFilter)
class SavedPromptFilterAdmin(admin.ModelAdmin):
    list_display = ["name", "created_by", "created"]
