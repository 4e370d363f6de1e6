"""Taxonomy (categories, topics, dialog typology, criteria, red-team templates), guideline versions and prompts."""


from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.i18n import Translated


class CategoryGroup(models.TextChoices):
    GENERAL = "general", _("General")
    SAFETY = "safety", _("Safety")


class ContentLanguage(models.TextChoices):
    POLISH = "pl", _("Polish")
    ENGLISH = "en", _("English")


# Taxonomy rows keep their text in both languages (`name_pl`, `name_en`…); the `Translated` attributes
# (`category.name`, `criterion.guideline`…) give the active language's text: see core.i18n.


class Category(models.Model):
    """A prompt category of the PLLuM-Align collection (seeded from the reference file)."""

    key = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_pl = models.CharField(max_length=200, blank=True)
    group = models.CharField(max_length=16, choices=CategoryGroup.choices)
    origin = models.CharField(max_length=16, default="original")  # original | adapted
    # Which sub-label the prompt form asks for: a topic, a generation type or an ethics theme.
    label_kind = models.CharField(max_length=16, default="topic")
    guideline_en = models.TextField(blank=True)
    guideline_pl = models.TextField(blank=True)
    paper_total_prompts = models.PositiveIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]
        verbose_name_plural = _("categories")

    name = Translated()
    guideline = Translated()

    def __str__(self):
        return self.name


class Topic(models.Model):
    """A label under a category: a QA topic, one of the 43 generation types, or an ethics (sub)theme."""

    class Kind(models.TextChoices):
        TOPIC = "topic", _("Topic")
        GENERATION_TYPE = "generation_type", _("Generation type")
        ETHICS_THEME = "ethics_theme", _("Ethics theme")

    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.TOPIC)
    name_en = models.CharField(max_length=200)
    name_pl = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    categories = models.ManyToManyField(Category, related_name="topics", blank=True)
    target = models.PositiveIntegerField(default=0, help_text=_("Coverage target (prompts) set by admins."))

    class Meta:
        ordering = ["kind", "name_en"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name_en", "parent"], name="topic_unique_in_parent"),
        ]

    name = Translated()

    def __str__(self):
        return f"{self.parent} › {self.name}" if self.parent_id else self.name


class DialogTypology(models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=200)
    name_pl = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = _("dialog typologies")

    name = Translated()

    def __str__(self):
        return self.name


class Criterion(models.Model):
    """A rating criterion with the guideline text shown next to its scale."""

    key = models.SlugField(max_length=64, unique=True)
    name_en = models.CharField(max_length=120)
    name_pl = models.CharField(max_length=120)
    guideline_en = models.TextField()
    guideline_pl = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]
        verbose_name_plural = _("criteria")

    name = Translated()
    guideline = Translated()

    def __str__(self):
        return self.name


class AttackStyle(models.Model):
    name_en = models.CharField(max_length=120, unique=True)  # the reference file's name: what seeding matches on
    name_pl = models.CharField(max_length=120, blank=True)

    name = Translated()

    def __str__(self):
        return self.name


class RedTeamTemplate(models.Model):
    """A red-teaming prompt template with named `{slots}` filled in by annotators.

    `language` is the language of the text: the prompt form offers the templates of the language the
    annotator works in, so a Polish prompt is never an English sentence with Polish slot values."""

    text = models.TextField()
    language = models.CharField(max_length=2, choices=ContentLanguage.choices, default=ContentLanguage.POLISH)
    attack_style = models.ForeignKey(AttackStyle, on_delete=models.PROTECT, related_name="templates")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["text"], name="redteam_template_unique_text")]

    def __str__(self):
        return self.text[:80]


class GuidelineVersion(models.Model):
    """The annotation guidelines in force; every submission records which version it followed."""

    version = models.CharField(max_length=32, unique=True)
    notes = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.version


class PromptSource(models.TextChoices):
    ORIGINAL = "original", _("Original")
    POLQA = "polqa", "PolQA"
    HH_RLHF = "hh_rlhf", "HH-RLHF"
    LONG = "long", "LONG"
    TOXIGEN = "toxigen", "Toxigen"


class Prompt(models.Model):
    text = models.TextField()
    # Normalised text (case, whitespace, punctuation and Polish diacritics folded) for duplicate checks.
    normalized = models.TextField(db_index=False)
    normalized_hash = models.CharField(max_length=64, db_index=True)  # exact-duplicate lookups
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="prompts")
    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.PROTECT, related_name="prompts")
    source = models.CharField(max_length=16, choices=PromptSource.choices, default=PromptSource.ORIGINAL)
    template = models.ForeignKey(
        RedTeamTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    slot_values = models.JSONField(default=dict, blank=True)
    duplicate_reason = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="prompts"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # coverage table: counts per (category, topic)
            models.Index(fields=["category", "topic"], name="prompt_cat_topic"),
            # "My prompts"
            models.Index(fields=["author", "-created"], name="prompt_author_created"),
        ]

    def __str__(self):
        return self.text[:80]

    @property
    def char_length(self) -> int:
        return len(self.text)
