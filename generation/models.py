"""Model endpoints, versioned pre-prompts, generation campaigns and the generations themselves."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MIN_MAX_TOKENS = 16  # the shortest answer worth asking for (also the smallest budget of a dialog turn)
MAX_MAX_TOKENS = 16384
MIN_CONTEXT_LENGTH = 128
MAX_CONTEXT_LENGTH = 1_048_576


class Endpoint(models.Model):
    """An OpenAI-compatible model server (vLLM). The API key is read from a named env variable.

    The circuit fields say whether campaigns may send it requests (services/circuit.py): consecutive
    "no answer" failures open the circuit; while open, runners only probe ``/v1/models`` with backoff,
    and a probe that answers lets one request through (half-open) before the circuit closes again.
    """

    class Circuit(models.TextChoices):
        CLOSED = "closed", _("Up")
        OPEN = "open", _("Down: waiting for the server")
        HALF_OPEN = "half_open", _("Answering again: trying one request")

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(blank=True, help_text=_("e.g. http://127.0.0.1:8100/v1; blank for imported-only"))
    model = models.CharField(max_length=200, help_text=_("Served model name"))
    api_key_env = models.CharField(max_length=100, blank=True, help_text=_("Name of the env variable"))
    temperature = models.FloatField(default=0.3, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    top_p = models.FloatField(default=0.95, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    top_k = models.IntegerField(
        null=True, blank=True, validators=[MinValueValidator(-1)], help_text=_("Blank: the server's default")
    )
    # The paper chose 1024..16384 new tokens per prompt set, by the desired answer length; small CPU models
    # in live dialogs need far fewer (a base model that never stops writes until this cap).
    max_tokens = models.PositiveIntegerField(
        default=1024, validators=[MinValueValidator(MIN_MAX_TOKENS), MaxValueValidator(MAX_MAX_TOKENS)],
        help_text=_("New tokens per answer, 16 to 16384. A dialog turn gets less when the context is nearly full."),
    )
    # Tokens the model attends to (prompt + answer): vLLM's max_model_len. Null: unknown; a dialog turn then uses
    # what the server's /tokenize reports, or no budget at all.
    context_length = models.PositiveIntegerField(
        null=True, blank=True,
        validators=[MinValueValidator(MIN_CONTEXT_LENGTH), MaxValueValidator(MAX_CONTEXT_LENGTH)],
        help_text=_("Tokens the model can attend to, prompt and answer together (128 to 1048576). The health check "
                    "reads it from the server (vLLM's max_model_len in /v1/models) when the server reports it; set "
                    "it by hand for servers that do not."),
    )
    supports_system_role = models.BooleanField(default=True)
    max_concurrency = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1)])
    timeout_seconds = models.PositiveIntegerField(default=300, validators=[MinValueValidator(1)])
    is_active = models.BooleanField(default=True)
    in_dialog_pool = models.BooleanField(default=False)
    last_health = models.JSONField(null=True, blank=True)  # {"ok": bool, "at": iso, "detail": str}
    circuit_state = models.CharField(max_length=16, choices=Circuit.choices, default=Circuit.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)  # requests in a row that got no answer
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    circuit_probes = models.PositiveIntegerField(default=0)  # failed probes since opening: the backoff exponent
    next_probe_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(circuit_state="closed") | Q(circuit_opened_at__isnull=False),
                name="endpoint_circuit_open_since",
            ),
        ]

    def __str__(self):
        return self.name


class PrePrompt(models.Model):
    """A pre-prompt of the paper (one safety, eight flaw-inducing) or "none"."""

    class Intent(models.TextChoices):
        NONE = "none", _("None")
        ALIGNED = "aligned", _("Aligned")
        FLAWED = "flawed", _("Flawed")

    class Placement(models.TextChoices):
        AUTO = "auto", _("System message if the endpoint supports it, else prepended")
        SYSTEM = "system", _("Always as the system message")
        PREPEND = "prepend", _("Always prepended to the user message")

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    intent = models.CharField(max_length=16, choices=Intent.choices)
    targets_criterion = models.CharField(max_length=64, blank=True)
    gloss_en = models.TextField(blank=True)
    placement = models.CharField(max_length=16, choices=Placement.choices, default=Placement.AUTO)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name

    def current_version(self) -> "PrePromptVersion":
        return self.versions.order_by("-version").first()


class PrePromptVersion(models.Model):
    """Immutable text of a pre-prompt; editing creates a new version, generations keep theirs."""

    preprompt = models.ForeignKey(PrePrompt, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["preprompt", "version"], name="preprompt_version_unique"),
        ]

    def __str__(self):
        return f"{self.preprompt.key} v{self.version}"


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        DONE = "done", _("Done")  # every generation succeeded
        DONE_WITH_FAILURES = "done_with_failures", _("Done with failures")  # nothing left, some failed

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.DRAFT)
    prompt_filter = models.JSONField(default=dict, blank=True)  # categories, topics, sources, dates, ids
    endpoints = models.ManyToManyField(Endpoint, related_name="campaigns")
    preprompts = models.ManyToManyField(PrePrompt, related_name="campaigns")
    samples = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(16)])
    # Sampling overrides for this campaign (e.g. {"max_tokens": 4096}); endpoint defaults otherwise.
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class Generation(models.Model):
    """One model answer to a prompt under one pre-prompt version; also the unit annotators judge.

    The unique constraint on (prompt, endpoint, pre-prompt version, sample) makes a retried or
    redelivered job unable to store a second answer.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        RETRYING = "retrying", _("Retrying")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    prompt = models.ForeignKey("prompts.Prompt", on_delete=models.PROTECT, related_name="generations")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.PROTECT, related_name="generations")
    preprompt_version = models.ForeignKey(PrePromptVersion, on_delete=models.PROTECT, related_name="generations")
    sample_index = models.PositiveSmallIntegerField(default=0)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="generations"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    params = models.JSONField(default=dict, blank=True)  # sampling parameters and messages actually sent
    raw_text = models.TextField(blank=True)
    text = models.TextField(blank=True)  # post-processed
    finish_reason = models.CharField(max_length=32, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # A worker's claim on a running generation, renewed by its heartbeat (STUDIO_GENERATION_LEASE_SECONDS).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=32, blank=True)  # which runner holds the lease
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # retrying: not before (backoff)
    imported = models.BooleanField(default=False)
    # The answer repeats its pre-prompt's instruction (postprocess.echoes_preprompt): held out of task
    # assembly and exports, counted on the campaign page.
    echoes_preprompt = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "endpoint", "preprompt_version", "sample_index"], name="generation_once"
            ),
        ]
        indexes = [
            # campaign runner: WHERE campaign=? AND endpoint=? AND status IN (pending, retrying) ORDER BY id
            models.Index(
                fields=["campaign", "endpoint", "id"],
                condition=Q(status__in=["pending", "retrying", "running"]),
                name="generation_todo",
            ),
            # progress bar: counts per status in a campaign
            models.Index(fields=["campaign", "status"], name="generation_campaign_status"),
            # campaign page (polled every 2 s while running): WHERE campaign=? AND echoes_preprompt, counted
            models.Index(fields=["campaign"], condition=Q(echoes_preprompt=True), name="generation_echo"),
        ]

    def __str__(self):
        return f"{self.endpoint} → prompt {self.prompt_id} [{self.status}]"


class CampaignRunner(models.Model):
    """Liveness of the worker loop driving one endpoint of a campaign (stalled ones are re-enqueued)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="runners")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="runners")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "endpoint"], name="campaign_runner_once"),
        ]

    def __str__(self):
        return f"{self.campaign} / {self.endpoint}"


class SavedPromptFilter(models.Model):
    """A named prompt selection for campaigns (same keys as Campaign.prompt_filter)."""

    name = models.CharField(max_length=120, unique=True)
    prompt_filter = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
