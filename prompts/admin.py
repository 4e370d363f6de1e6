"""Django admin for everything without a dedicated page. Text is shown through the default
(escaping) rendering; nothing here builds HTML from prompt or model text."""

from django.contrib import admin

from .models import AttackStyle, Category, Criterion, DialogTypology, GuidelineVersion, Prompt, RedTeamTemplate, Topic


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["key", "name_pl", "name_en", "group", "origin", "label_kind", "position"]
    list_editable = ["position"]


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name_pl", "name_en", "kind", "parent", "target"]
    list_filter = ["kind", "categories"]
    list_editable = ["target"]
    search_fields = ["name_pl", "name_en"]
    filter_horizontal = ["categories"]


@admin.register(Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ["key", "name_en", "name_pl", "position"]


@admin.register(DialogTypology)
class DialogTypologyAdmin(admin.ModelAdmin):
    list_display = ["key", "name_pl", "name_en", "position"]


@admin.register(AttackStyle)
class AttackStyleAdmin(admin.ModelAdmin):
    list_display = ["name_pl", "name_en"]


admin.site.register(GuidelineVersion)


@admin.register(RedTeamTemplate)
class RedTeamTemplateAdmin(admin.ModelAdmin):
    list_display = ["text", "language", "attack_style", "is_active", "created"]
    list_filter = ["language", "attack_style", "is_active"]


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
