"""The export form: every strategy, merge rule, output and filter of an export, as one flat params dict."""

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from core import roles
from prompts.models import Category, PromptSource

from . import adapters as A
from . import pairs as P
from .writers import ExportParams

_DEFAULTS = ExportParams()
OUTPUTS = [
    ("preference", _("Preference pairs (DPO/ORPO)")),
    ("kto", _("KTO rows")),
    ("sft", _("SFT conversations")),
    ("scores", _("Rating scores (reward modelling)")),
]
TASK_TYPES = [("ranking", _("Ranking")), ("rating", _("Rating")), ("dialog", _("Dialogs"))]
REVIEW_CHOICES = [
    ("approved", _("Only approved or edited items where QA reviews them (default)")),
    ("not_rejected", _("Everything except rejected items")),
    ("all", _("Ignore QA reviews (raw annotations)")),
]
HARDNESS_CHOICES = [("", _("Every pair")), ("hard", _("Only hard rejects")), ("soft", _("Only soft rejects"))]


def _choices(enum) -> list[tuple[str, str]]:
    return [(m.value, m.value) for m in enum]


class ExportForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    task_types = forms.MultipleChoiceField(
        label=_("Annotation types"), choices=TASK_TYPES, initial=[t for t, _ in TASK_TYPES], widget=forms.CheckboxSelectMultiple
    )
    ranking_strategy = forms.ChoiceField(
        label=_("Ranking pairs"), choices=_choices(P.RankingStrategy), initial=_DEFAULTS.ranking_strategy
    )
    dialog_strategy = forms.ChoiceField(
        label=_("Dialog pairs"), choices=_choices(P.DialogStrategy), initial=_DEFAULTS.dialog_strategy
    )
    rating_threshold = forms.FloatField(
        label=_("Rating threshold (chosen mean at least)"), min_value=1, max_value=5, initial=_DEFAULTS.rating_threshold
    )
    ranking_merge = forms.ChoiceField(
        label=_("Merging several rankings"), choices=_choices(P.RankingMerge), initial=_DEFAULTS.ranking_merge
    )
    rating_merge = forms.ChoiceField(
        label=_("Merging several ratings"), choices=_choices(P.RatingMerge), initial=_DEFAULTS.rating_merge
    )
    seed = forms.IntegerField(label=_("Seed"), min_value=0, initial=_DEFAULTS.seed)
    eval_ratio = forms.FloatField(label=_("Eval share"), min_value=0, max_value=0.9, initial=_DEFAULTS.eval_ratio)
    keep_reject_hardness = forms.ChoiceField(label=_("Rejects"), choices=HARDNESS_CHOICES, required=False)
    hard_share = forms.FloatField(
        label=_("Target share of hard rejects (ranking)"),
        min_value=0,
        max_value=1,
        required=False,
        help_text=_("Blank: as annotated. 0.5: as many hard as soft rejects."),
    )
    categories = forms.ModelMultipleChoiceField(
        label=_("Categories"),
        queryset=Category.objects.all(),
        to_field_name="key",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all categories."),
    )
    sources = forms.MultipleChoiceField(
        label=_("Prompt sources"), choices=PromptSource.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    date_from = forms.DateField(label=_("Annotated from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("Annotated until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    annotators = forms.ModelMultipleChoiceField(
        label=_("Annotators"),
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: everyone."),
    )
    review_status = forms.ChoiceField(label=_("QA review"), choices=REVIEW_CHOICES, initial="approved")
    include_gold = forms.BooleanField(label=_("Include gold items"), required=False, initial=True)
    outputs = forms.MultipleChoiceField(
        label=_("Files"), choices=OUTPUTS, initial=[o for o, _ in OUTPUTS], widget=forms.CheckboxSelectMultiple
    )
    parquet = forms.BooleanField(label=_("Parquet next to JSONL"), required=False, initial=True)
    sft_cap_per_source = forms.IntegerField(
        label=_("SFT rows per adapted source at most"),
        min_value=1,
        required=False,
        initial=_DEFAULTS.sft_cap_per_source,
        help_text=_("Blank: no cap."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["annotators"].queryset = (
            get_user_model().objects.filter(groups__name=roles.ANNOTATOR).order_by("username").distinct()
        )
        self.fields["annotators"].label_from_instance = lambda user: user.get_username()

    FIELDSETS = (
        (_("Pairs"), ("task_types", "ranking_strategy", "dialog_strategy", "rating_threshold", "ranking_merge",
                      "rating_merge", "keep_reject_hardness", "hard_share")),
        (_("Selection"), ("review_status", "date_from", "date_to", "include_gold", "sources", "categories",
                          "annotators")),
        (_("Files and split"), ("outputs", "parquet", "seed", "eval_ratio", "sft_cap_per_source")),
    )

    def fieldsets(self):
        """(legend, bound fields) groups for the template."""
        return [(legend, [self[name] for name in names]) for legend, names in self.FIELDSETS]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        if not self.errors:
            try:
                A.split_params(self.params())
            except A.ParamsError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data

    def params(self) -> dict:
        """The flat parameter dict for `export_create` (call on a valid form)."""
        data = self.cleaned_data
        hardness = data.get("keep_reject_hardness")
        return {
            "task_types": list(data["task_types"]),
            "ranking_strategy": data["ranking_strategy"],
            "dialog_strategy": data["dialog_strategy"],
            "rating_threshold": data["rating_threshold"],
            "ranking_merge": data["ranking_merge"],
            "rating_merge": data["rating_merge"],
            "seed": data["seed"],
            "eval_ratio": data["eval_ratio"],
            "keep_reject_hardness": [hardness] if hardness else None,
            "hard_share": data.get("hard_share"),
            "categories": [c.key for c in data.get("categories") or ()],
            "sources": list(data.get("sources") or ()),
            "date_from": data["date_from"].isoformat() if data.get("date_from") else None,
            "date_to": data["date_to"].isoformat() if data.get("date_to") else None,
            "annotators": [u.pk for u in data.get("annotators") or ()],
            "review_status": data["review_status"],
            "include_gold": bool(data.get("include_gold")),
            "outputs": list(data["outputs"]),
            "parquet": bool(data.get("parquet")),
            "sft_cap_per_source": data.get("sft_cap_per_source"),
        }
