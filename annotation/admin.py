"""Django admin for everything without a dedicated page. Text is shown through the default
(escaping) rendering; nothing here builds HTML from prompt or model text."""

from django.contrib import admin

from .models import (
    AttackStyle,
    Category,
    Claim,
    Criterion,
    Dialog,
    DialogTurn,
    DialogTypology,
    GuidelineVersion,
    Invitation,
    Prompt,
    Ranking,
    Rating,
    RedTeamTemplate,
    Task,
    TaskResponse,
    Topic,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["key", "name", "group", "origin", "label_kind", "position"]
    list_editable = ["position"]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "parent", "target"]
    list_filter = ["kind", "categories"]
    list_editable = ["target"]
    search_fields = ["name"]
    filter_horizontal = ["categories"]


@admin.register(Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ["key", "name_en", "name_pl", "position"]


admin.site.register(DialogTypology)
admin.site.register(AttackStyle)
admin.site.register(GuidelineVersion)


@admin.register(RedTeamTemplate)
class RedTeamTemplateAdmin(admin.ModelAdmin):
    list_display = ["text", "attack_style", "is_active", "created"]
    list_filter = ["attack_style", "is_active"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "short_text", "category", "topic", "source", "author", "created"]
    list_filter = ["category", "source"]
    search_fields = ["text", "normalized"]
    raw_id_fields = ["topic", "template", "author"]
    readonly_fields = ["normalized", "normalized_hash", "created", "updated"]

    @admin.display(description="text")
    def short_text(self, obj):
        return obj.text[:120]


class TaskResponseInline(admin.TabularInline):
    model = TaskResponse
    raw_id_fields = ["generation"]
    extra = 0


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "prompt_id", "overlap", "remaining", "is_gold", "is_active", "created"]
    list_filter = ["kind", "is_gold", "is_active"]
    raw_id_fields = ["prompt"]
    inlines = [TaskResponseInline]


@admin.register(Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["id", "task_id", "annotator", "status", "claimed_at", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["task", "annotator"]


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ["id", "task_id", "annotator", "revision", "is_current", "skip_reason", "created"]
    list_filter = ["is_current", "skip_reason"]
    raw_id_fields = ["task", "annotator"]


@admin.register(Ranking)
class RankingAdmin(admin.ModelAdmin):
    list_display = ["id", "task_id", "annotator", "revision", "is_current", "all_unacceptable", "created"]
    list_filter = ["is_current", "all_unacceptable"]
    raw_id_fields = ["task", "annotator", "custom_from"]


class DialogTurnInline(admin.StackedInline):
    model = DialogTurn
    extra = 0
    raw_id_fields = ["chosen", "custom_from"]


@admin.register(Dialog)
class DialogAdmin(admin.ModelAdmin):
    list_display = ["id", "annotator", "status", "created", "finished_at"]
    list_filter = ["status"]
    inlines = [DialogTurnInline]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "role", "invited_by", "expires_at", "accepted_by", "accepted_at"]
    readonly_fields = ["token"]
