import re

from django import forms
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext_lazy as _

from prompts.models import Category, PromptSource, Topic

from .models import (
    MAX_CONTEXT_LENGTH,
    MAX_MAX_TOKENS,
    MIN_CONTEXT_LENGTH,
    MIN_MAX_TOKENS,
    Campaign,
    Endpoint,
    PrePrompt,
    SavedPromptFilter,
)

MAX_ID_RANGE = 100_000  # ids in one a-b range of the campaign form


class EndpointForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("Base URL"), required=False, assume_scheme="http",
        help_text=_("e.g. http://127.0.0.1:8100/v1; blank for imported responses only"),
    )

    class Meta:
        model = Endpoint
        fields = [
            "name", "base_url", "model", "api_key_env", "temperature", "top_p", "top_k", "max_tokens",
            "context_length", "supports_system_role", "max_concurrency", "timeout_seconds", "is_active",
            "in_dialog_pool",
        ]
        help_texts = {
            "api_key_env": _("Name of the environment variable holding the key (the key itself is never stored)."),
            "supports_system_role": _("Untick when the chat template has no system role: pre-prompts are then "
                                      "prepended to the user's message."),
        }

    LIMITS = {"max_tokens": (MIN_MAX_TOKENS, MAX_MAX_TOKENS), "context_length": (MIN_CONTEXT_LENGTH, MAX_CONTEXT_LENGTH)}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The browser states and checks the limits before submitting (min/max on the input), the form again.
        for name, (low, high) in self.LIMITS.items():
            field = self.fields[name]
            field.min_value, field.max_value = low, high
            field.validators = [v for v in field.validators if not isinstance(v, (MinValueValidator, MaxValueValidator))]
            field.validators += [MinValueValidator(low), MaxValueValidator(high)]
            field.widget.attrs.update(min=low, max=high)

    def clean_api_key_env(self):
        value = self.cleaned_data["api_key_env"].strip()
        if value and not value.replace("_", "").isalnum():
            raise forms.ValidationError(_("Give the variable's name (letters, digits, _), not the key."))
        return value

    def clean(self):
        data = super().clean()
        max_tokens, context_length = data.get("max_tokens"), data.get("context_length")
        if max_tokens and context_length and max_tokens >= context_length:
            self.add_error("max_tokens", _("An answer of %(max)s tokens leaves no room for the prompt in a context "
                                           "of %(context)s tokens; give fewer.")
                           % {"max": max_tokens, "context": context_length})
        return data


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    categories = forms.ModelMultipleChoiceField(
        label=_("Categories"), queryset=Category.objects.all(), required=False, to_field_name="key",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    topics = forms.ModelMultipleChoiceField(
        label=_("Topics"), queryset=Topic.objects.all(), required=False, widget=forms.SelectMultiple(attrs={"size": 6})
    )
    sources = forms.MultipleChoiceField(label=_("Sources"), choices=PromptSource.choices, required=False)
    date_from = forms.DateField(label=_("Written from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Written until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    saved_filter = forms.ModelChoiceField(
        label=_("Saved filter"), queryset=SavedPromptFilter.objects.all(), required=False, to_field_name="name"
    )
    prompt_ids = forms.CharField(
        label=_("Prompt ids"), required=False, max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "12, 15, 40-60"}),
        help_text=_("Only these prompts (ids, comma- or space-separated; a-b for a range), combined with the "
                    "filters above. Use “Preview” to see how many generations the campaign will make."),
    )
    save_filter_as = forms.CharField(label=_("Save this filter as"), max_length=120, required=False)
    endpoints = forms.ModelMultipleChoiceField(
        label=_("Models"), queryset=Endpoint.objects.filter(is_active=True).exclude(base_url="")
    )
    preprompts = forms.ModelMultipleChoiceField(
        label=_("Pre-prompts"), queryset=PrePrompt.objects.filter(is_active=True),
        widget=forms.CheckboxSelectMultiple,
    )
    samples = forms.IntegerField(label=_("Samples per combination"), min_value=1, max_value=16, initial=1)
    max_tokens = forms.IntegerField(
        label=_("Max new tokens"), min_value=1, max_value=16384, required=False,
        help_text=_("Blank: each model's default."),
    )
    start_now = forms.BooleanField(label=_("Start right away"), required=False, initial=True)

    def clean_prompt_ids(self) -> list[int]:
        ids: set[int] = set()
        for part in re.split(r"[\s,;]+", self.cleaned_data["prompt_ids"].strip()):
            if not part:
                continue
            match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not match:
                raise forms.ValidationError(_("Not a prompt id or range: %(part)s") % {"part": part[:40]})
            low, high = int(match[1]), int(match[2] or match[1])
            if high < low or high - low > MAX_ID_RANGE:
                raise forms.ValidationError(_("Ranges go from low to high, at most %(n)s ids each.") % {"n": MAX_ID_RANGE})
            ids.update(range(low, high + 1))
        return sorted(ids)

    def clean_save_filter_as(self):
        name = self.cleaned_data["save_filter_as"].strip()
        if name and SavedPromptFilter.objects.filter(name=name).exists():
            raise forms.ValidationError(_("A saved filter with this name exists."))
        return name

    def prompt_filter(self) -> dict:
        data = self.cleaned_data
        result = {}
        if data["categories"]:
            result["categories"] = [c.key for c in data["categories"]]
        if data["topics"]:
            result["topics"] = [t.pk for t in data["topics"]]
        if data["sources"]:
            result["sources"] = list(data["sources"])
        if data["date_from"]:
            result["date_from"] = data["date_from"].isoformat()
        if data["date_to"]:
            result["date_to"] = data["date_to"].isoformat()
        if data["saved_filter"]:
            result["saved_filter"] = data["saved_filter"].name
        if data.get("prompt_ids"):
            result["ids"] = data["prompt_ids"]
        return result


class GenerationFilterForm(forms.Form):
    """Filters of the generated-texts browser (GET)."""

    ECHO_CHOICES = (("", _("any")), ("yes", _("echoes its pre-prompt")), ("no", _("does not echo")))

    campaign = forms.ModelChoiceField(label=_("Campaign"), queryset=Campaign.objects.order_by("-id"), required=False)
    prompt = forms.IntegerField(label=_("Prompt id"), required=False, min_value=1)
    endpoint = forms.ModelChoiceField(label=_("Model"), queryset=Endpoint.objects.order_by("name"), required=False)
    preprompt = forms.ModelChoiceField(label=_("Pre-prompt"), queryset=PrePrompt.objects.order_by("name"),
                                       required=False)
    echo = forms.ChoiceField(label=_("Pre-prompt echo"), choices=ECHO_CHOICES, required=False)
    q = forms.CharField(label=_("Text contains"), required=False, max_length=200)

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {
            "campaign": data.get("campaign"),
            "prompt_id": data.get("prompt"),
            "endpoint_id": data["endpoint"].pk if data.get("endpoint") else None,
            "preprompt_id": data["preprompt"].pk if data.get("preprompt") else None,
            "echo": {"yes": True, "no": False}.get(data.get("echo") or ""),
            "query": (data.get("q") or "").strip(),
        }


class PrePromptForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    placement = forms.ChoiceField(label=_("How it is applied"), choices=PrePrompt.Placement.choices)
    text = forms.CharField(
        label=_("Text"), required=False, strip=False, widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Saved as a new version; generations keep the exact text they used."),
    )


class ResponsesImportForm(forms.Form):
    file = forms.FileField(label=_("JSONL file"))


class AssembleForm(forms.Form):
    seed = forms.IntegerField(label=_("Seed"), min_value=0, initial=1)
    rating_min_chars = forms.IntegerField(label=_("Rating from (characters)"), min_value=1,
                                          initial=settings.STUDIO_RATING_MIN_CHARS)
    rating_min_parts = forms.IntegerField(label=_("Rating from (sentences or items)"), min_value=1,
                                          initial=settings.STUDIO_RATING_MIN_PARTS)
    overlap = forms.IntegerField(label=_("Annotators per item"), min_value=1, max_value=10, initial=2)
