from django import forms
from django.utils.translation import gettext_lazy as _

from core.i18n import content_language
from prompts.coverage import polish_sort_key
from prompts.models import Category, PromptSource, RedTeamTemplate, Topic


class PromptForm(forms.Form):
    category = forms.ModelChoiceField(queryset=Category.objects.all(), label=_("Category"))
    topic = forms.ModelChoiceField(queryset=Topic.objects.none(), required=False, label=_("Topic label"))
    source = forms.ChoiceField(choices=PromptSource.choices, initial=PromptSource.ORIGINAL, label=_("Source"))
    template = forms.ModelChoiceField(
        queryset=RedTeamTemplate.objects.filter(is_active=True).select_related("attack_style"),
        required=False,
        label=_("Red-team template"),
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), required=False, label=_("Prompt"))
    duplicate_reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label=_("Why save it although it resembles an existing prompt?"),
    )
    confirm_duplicate = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Templates in the language the annotator works in: a Polish prompt is a Polish sentence.
        self.fields["template"].queryset = self.fields["template"].queryset.filter(language=content_language())
        category = None
        raw = self.data.get("category") if self.is_bound else self.initial.get("category")
        if raw:
            category = Category.objects.filter(pk=getattr(raw, "pk", raw)).first()
        if category is not None:
            topics = sorted(
                Topic.objects.filter(categories=category).select_related("parent"),
                key=lambda t: polish_sort_key(str(t)),
            )
            self.fields["topic"].queryset = Topic.objects.filter(pk__in=[t.pk for t in topics])
            self.fields["topic"].choices = [("", "—")] + [(t.pk, str(t)) for t in topics]
        self.category = category
        self.slot_names: list[str] = []
        template = None
        raw_template = self.data.get("template") if self.is_bound else None
        if raw_template:
            template = self.fields["template"].queryset.filter(pk=raw_template).first()
        if template is not None:
            from prompts.services import template_slots

            self.slot_names = template_slots(template.text)
            for slot in self.slot_names:
                self.fields[f"slot_{slot}"] = forms.CharField(label="{" + slot + "}", required=False)

    def slot_values(self) -> dict[str, str]:
        return {slot: self.cleaned_data.get(f"slot_{slot}", "") for slot in self.slot_names}

    def clean(self):
        data = super().clean()
        if not data.get("template") and not (data.get("text") or "").strip():
            self.add_error("text", _("Write the prompt, or pick a template and fill its slots."))
        return data


class PromptImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or JSONL file"))
    allow_duplicates = forms.BooleanField(required=False, label=_("Save duplicates too (they are listed)"))
