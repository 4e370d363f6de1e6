"""QA API for scripts: agreement figures, coverage, review decisions, gold marking, feedback.

One APIView per operation; QA leads and admins only (IsQALead lets admins through).
"""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.models import Task
from core.access import IsQALead
from core.api import IdField
from dialogs.models import Dialog

from . import reports, selectors, services
from .forms import DashboardFilterForm
from .models import Review, ReviewTarget


def _estimate(e) -> dict:
    return {"value": e.value, "n": e.n, "reason": e.reason}


class AgreementOutput(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    alpha = serializers.DictField()
    alpha_gold = serializers.DictField()
    ranking = serializers.DictField()
    position_bias = serializers.DictField()
    annotators = serializers.ListField(child=serializers.DictField())


class AgreementQuery(serializers.Serializer):
    """The query parameters of AgreementApi, for the schema: DashboardFilterForm reads them."""

    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    category = serializers.IntegerField(required=False, help_text="a category id")
    task_type = serializers.ChoiceField(choices=["rating", "ranking", "dialog"], required=False)
    annotator = serializers.IntegerField(required=False, help_text="an annotator's user id")


class AgreementApi(APIView):
    """Agreement figures with the dashboard's filters (date_from, date_to, category, task_type, annotator)."""

    permission_classes = [IsQALead]

    @extend_schema(parameters=[AgreementQuery], responses=AgreementOutput)
    def get(self, request):
        form = DashboardFilterForm(request.query_params or None)
        if request.query_params and not form.is_valid():
            return Response(form.errors, status=status.HTTP_400_BAD_REQUEST)
        data = reports.cached_dashboard(form.filters())

        def bias(b):
            return {"n_slots": b.n_slots, "n": b.overall.n, "win_rates": list(b.overall.win_rates),
                    "chi2": b.overall.chi2, "p_value": b.overall.p_value, "flagged": b.overall.flagged}

        chart = data.charts["annotators"]
        payload = {
            "counts": data.counts,
            "alpha": {k: _estimate(e) for k, e in data.alpha.items()},
            "alpha_gold": {k: _estimate(e) for k, e in data.alpha_gold.items()},
            "ranking": {"tau": _estimate(data.tau), "top1": _estimate(data.top1), "tau_gold": _estimate(data.tau_gold),
                        "top1_gold": _estimate(data.top1_gold), "kendalls_w_gold": _estimate(data.w_gold)},
            "position_bias": {"ranking": bias(data.bias_ranking), "dialog": bias(data.bias_dialog)},
            "annotators": [dict(zip(chart.header, row, strict=True)) for row in chart.rows],
        }
        return Response(AgreementOutput(payload).data)


class TopicCoverageOutput(serializers.Serializer):
    topic_id = serializers.IntegerField(allow_null=True)
    topic = serializers.CharField()
    prompts = serializers.IntegerField()
    target = serializers.IntegerField()


class CategoryCoverageOutput(serializers.Serializer):
    category_id = serializers.IntegerField()
    name = serializers.CharField()
    group = serializers.CharField()
    origin = serializers.CharField()
    prompts = serializers.IntegerField()
    rating_prompts = serializers.IntegerField()
    ranking_prompts = serializers.IntegerField()
    rating_pairs = serializers.IntegerField()
    ranking_pairs = serializers.IntegerField()
    topics = TopicCoverageOutput(many=True)


class CoverageOutput(serializers.Serializer):
    categories = CategoryCoverageOutput(many=True)
    dialogs = serializers.IntegerField()
    dialog_pairs = serializers.IntegerField()
    total_pairs = serializers.IntegerField()


class CoverageApi(APIView):
    """Prompts per category x topic against targets, and live pair counts per category (Table 1 shape)."""

    permission_classes = [IsQALead]

    @extend_schema(responses=CoverageOutput)
    def get(self, request):
        cov = selectors.coverage()
        return Response({
            "categories": [
                {"category_id": c.category_id, "name": c.name, "group": c.group, "origin": c.origin,
                 "prompts": c.prompts, "rating_prompts": c.rating_prompts, "ranking_prompts": c.ranking_prompts,
                 "rating_pairs": c.rating_pairs, "ranking_pairs": c.ranking_pairs,
                 "topics": [{"topic_id": t.topic_id, "topic": t.topic, "prompts": t.prompts, "target": t.target}
                            for t in c.topics]}
                for c in cov.categories
            ],
            "dialogs": cov.dialogs,
            "dialog_pairs": cov.dialog_pairs,
            "total_pairs": cov.total_pairs,
        })


class ReviewOutput(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username")

    class Meta:
        model = Review
        fields = ["id", "target_kind", "target_id", "decision", "note", "original_text", "edited_text", "reviewer",
                  "created"]


class ReviewListInput(serializers.Serializer):
    target_kind = serializers.ChoiceField(choices=ReviewTarget.choices)
    target_id = IdField()


class ReviewListApi(APIView):
    """The review history of one target, newest first."""

    permission_classes = [IsQALead]

    @extend_schema(parameters=[ReviewListInput], responses=ReviewOutput(many=True))
    def get(self, request):
        query = ReviewListInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        history = selectors.review_history(query.validated_data["target_kind"], query.validated_data["target_id"])
        return Response(ReviewOutput(history, many=True).data)


class ReviewDecideInput(serializers.Serializer):
    target_kind = serializers.ChoiceField(choices=ReviewTarget.choices)
    target_id = IdField()
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="")
    edited_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)


class ReviewDecideApi(APIView):
    permission_classes = [IsQALead]

    @extend_schema(request=ReviewDecideInput, responses={201: ReviewOutput})
    def post(self, request):
        data = ReviewDecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = services.review_decide(reviewer=request.user, **data.validated_data)  # refused: 400
        return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)


class GoldInput(serializers.Serializer):
    is_gold = serializers.BooleanField()
    order = serializers.ListField(child=serializers.IntegerField(), required=False)
    scores = serializers.DictField(child=serializers.IntegerField(min_value=1, max_value=5), required=False)
    answer = serializers.CharField(required=False, allow_blank=True, default="")


class GoldOutput(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "kind", "is_gold", "gold_reference"]


class GoldApi(APIView):
    """Mark a task as gold (with an optional reference) or take it out of the gold set."""

    permission_classes = [IsQALead]

    @extend_schema(request=GoldInput, responses=GoldOutput)
    def post(self, request, task_id: int):
        task = get_object_or_404(Task, pk=task_id)
        data = GoldInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.pop("is_gold"):
            task = services.gold_mark(task=task, marked_by=request.user, reference=values)  # a bad reference: 400
        else:
            task = services.gold_unmark(task=task)
        return Response(GoldOutput(task).data)


class FeedbackInput(serializers.Serializer):
    # Ids in the body that name nothing are field errors (400), not a missing resource (404: the URL exists).
    to_user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all())
    text = serializers.CharField()
    task = serializers.PrimaryKeyRelatedField(queryset=Task.objects.all(), required=False, allow_null=True)
    dialog = serializers.PrimaryKeyRelatedField(queryset=Dialog.objects.all(), required=False, allow_null=True)


class FeedbackOutput(serializers.Serializer):
    id = serializers.IntegerField()
    to_user = serializers.IntegerField(source="to_user_id")
    task = serializers.IntegerField(source="task_id", allow_null=True)
    dialog = serializers.IntegerField(source="dialog_id", allow_null=True)
    text = serializers.CharField()
    created = serializers.DateTimeField()


class FeedbackSendApi(APIView):
    permission_classes = [IsQALead]

    @extend_schema(request=FeedbackInput, responses={201: FeedbackOutput})
    def post(self, request):
        data = FeedbackInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        feedback = services.feedback_send(sender=request.user, to_user=values["to_user"], text=values["text"],
                                          task=values.get("task"), dialog=values.get("dialog"))
        return Response(FeedbackOutput(feedback).data, status=status.HTTP_201_CREATED)
