"""Django admin for everything without a dedicated page. Text is shown through the default
(escaping) rendering; nothing here builds HTML from prompt or model text."""

from django.contrib import admin

from .models import Claim, Ranking, Rating, RatingPair, Task, TaskResponse


class TaskResponseInline(admin.TabularInline):
    model = TaskResponse
    raw_id_fields = ["generation"]
    extra = 0


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "prompt_id", "pair_id", "overlap", "remaining", "is_gold", "is_active", "created"]
    list_filter = ["kind", "is_gold", "is_active"]
    raw_id_fields = ["prompt", "pair"]
    inlines = [TaskResponseInline]


@admin.register(RatingPair)
class RatingPairAdmin(admin.ModelAdmin):
    list_display = ["id", "prompt_id", "seed", "created", "locked_at"]
    raw_id_fields = ["prompt"]
    readonly_fields = ["locked_at"]  # set by QA's review (annotation.services.locking)


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
    readonly_fields = ["locked_at"]  # set by QA's review (annotation.services.locking)
