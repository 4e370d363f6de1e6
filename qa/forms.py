from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from annotation.models import Task, TaskKind
from core import roles
from dialogs.models import Dialog
from prompts.models import Category

from .models import Review
from .selectors import REVIEW_STATUSES, Filters, annotator_choices


class DashboardFilterForm(forms.Form):
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label=_("All categories")
    )
    task_type = forms.ChoiceField(
        label=_("Task type"),
        required=False,
        choices=[("", _("All types")), ("rating", _("Rating")), ("ranking", _("Ranking")), ("dialog", _("Dialog"))],
    )
    annotator = forms.TypedChoiceField(label=_("Annotator"), required=False, coerce=int, empty_value=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotator"].choices = [("", _("All annotators")), *annotator_choices()]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> Filters:
        """The filters of a valid form; an invalid form filters nothing (its errors are shown)."""
        if not self.is_valid():
            return Filters()
        data = self.cleaned_data
        return Filters(
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            category_id=data["category"].id if data.get("category") else None,
            task_type=data.get("task_type") or "",
            annotator_id=data.get("annotator"),
        )


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=Review.Decision.choices, widget=forms.RadioSelect)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    edited_text = forms.CharField(
        label=_("Corrected text (for an edit)"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
    )


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("pending", _("Pending")), ("decided", _("Decided")), ("all", _("All"))],
    )
    sample = forms.TypedChoiceField(
        label=_("Dialogs"),
        required=False,
        coerce=int,
        empty_value=100,
        choices=[(100, _("All dialogs")), (25, _("25% sample")), (10, _("10% sample"))],
    )

    def status_value(self) -> str:
        if self.is_valid() and self.cleaned_data.get("status") in REVIEW_STATUSES:
            return self.cleaned_data["status"]
        return "pending"

    def sample_value(self) -> int:
        if self.is_valid() and self.cleaned_data.get("sample"):
            return self.cleaned_data["sample"]
        return 100


class GoldCandidateFilterForm(forms.Form):
    kind = forms.ChoiceField(label=_("Task type"), required=False, choices=[("", _("All types")), *TaskKind.choices])
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.all(), required=False, empty_label=_("All categories")
    )
    q = forms.CharField(label=_("Prompt text or task id"), required=False, max_length=200)


class GoldForm(forms.Form):
    """Gold marking; the expected ranking/score fields are added per task in the constructor."""

    is_gold = forms.BooleanField(label=_("Gold item (shown to every annotator)"), required=False)
    answer = forms.CharField(
        label=_("Reference answer (optional)"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )

    def __init__(self, *args, task, responses, criteria, **kwargs):
        super().__init__(*args, **kwargs)
        self.task = task
        self.rank_fields: list[str] = []
        self.score_fields: list[tuple[str, str]] = []
        if task.kind == TaskKind.RANKING:
            choices = [("", "—")] + [(str(r.id), _("Response %(n)s") % {"n": r.position + 1}) for r in responses]
            for place in range(1, len(responses) + 1):
                name = f"rank_{place}"
                self.fields[name] = forms.ChoiceField(
                    label=_("Expected place %(n)s") % {"n": place}, choices=choices, required=False
                )
                self.rank_fields.append(name)
        else:
            score_choices = [("", "—")] + [(str(s), str(s)) for s in range(1, 6)]
            for key, label in criteria:
                name = f"score_{key}"
                self.fields[name] = forms.ChoiceField(label=label, choices=score_choices, required=False)
                self.score_fields.append((name, key))

    def clean(self):
        data = super().clean()
        if self.rank_fields:
            chosen = [data.get(name) for name in self.rank_fields]
            if any(chosen) and not all(chosen):
                raise forms.ValidationError(_("Fill every place of the expected ranking, or none."))
        return data

    def reference(self) -> dict:
        data = self.cleaned_data
        reference: dict = {"answer": data.get("answer", "")}
        if self.rank_fields:
            order = [data.get(name) for name in self.rank_fields]
            if all(order):
                reference["order"] = [int(i) for i in order]
        else:
            reference["scores"] = {key: data[name] for name, key in self.score_fields if data.get(name)}
        return reference


class FeedbackForm(forms.Form):
    to_user = forms.ModelChoiceField(label=_("Annotator"), queryset=get_user_model().objects.none())
    task = forms.IntegerField(label=_("Task id (optional)"), required=False, min_value=1)
    dialog = forms.IntegerField(label=_("Dialog id (optional)"), required=False, min_value=1)
    text = forms.CharField(label=_("Feedback"), widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_user"].queryset = (
            get_user_model().objects.filter(groups__name=roles.ANNOTATOR, is_active=True).order_by("username")
        )

    def clean_task(self):
        task_id = self.cleaned_data.get("task")
        if task_id and not Task.objects.filter(id=task_id).exists():
            raise forms.ValidationError(_("No task with this id."))
        return task_id

    def clean_dialog(self):
        dialog_id = self.cleaned_data.get("dialog")
        if dialog_id and not Dialog.objects.filter(id=dialog_id).exists():
            raise forms.ValidationError(_("No dialog with this id."))
        return dialog_id


class TopicTargetForm(forms.Form):
    topic = forms.IntegerField(widget=forms.HiddenInput)
    target = forms.IntegerField(label=_("Target"), min_value=0, max_value=1_000_000)
