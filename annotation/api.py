"""Annotation API for external clients and load tests: claim the next item, submit, give back.

`"next": true` in a submission also claims the next item of the same kind and returns it with the
result: one request per annotation, as the pages do. Same services and checks as the pages: only the holder of a claim may submit (409 otherwise), a
repeated `submission_id` stores one row (200 with that row instead of 201), a new id by the author
revises until QA has reviewed it.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import selectors
from annotation.models import SkipReason, TaskKind
from annotation.services import assignment, submissions
from annotation.services.assembly import RoutingRule, tasks_assemble
from core.access import IsAnnotator, IsStudioAdmin
from core.api import ErrorOutput
from core.converters import MAX_ID
from generation import selectors as generation_selectors


class ClaimInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=TaskKind.choices)


class ResponseOutput(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    text = serializers.CharField()


class ItemOutput(serializers.Serializer):
    task_id = serializers.IntegerField(source="task.pk")
    kind = serializers.ChoiceField(choices=TaskKind.choices, source="task.kind")
    prompt = serializers.CharField(source="prompt_text")
    responses = ResponseOutput(many=True)  # in the order shown to this annotator
    claimed_at = serializers.DateTimeField(source="claim.claimed_at")
    expires_at = serializers.DateTimeField(source="claim.expires_at")


class RatingInput(serializers.Serializer):
    submission_id = serializers.UUIDField()
    next = serializers.BooleanField(required=False, default=False, help_text="Also claim the next item")
    scores = serializers.DictField(child=serializers.IntegerField(), required=False, default=dict)
    comment = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    skip_reason = serializers.ChoiceField(choices=SkipReason.choices, required=False, allow_blank=True, default="")
    time_ms = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)


class RankingInput(serializers.Serializer):
    submission_id = serializers.UUIDField()
    next = serializers.BooleanField(required=False, default=False, help_text="Also claim the next item")
    order = serializers.ListField(
        child=serializers.IntegerField(), required=False, default=list,
        help_text="Response ids, best first (every one, no ties; not with skip_reason)",
    )
    order_confirmed_unchanged = serializers.BooleanField(
        required=False, default=False,
        help_text="Required (true) when `order` is exactly the display order of the claim: the annotator "
        "confirmed the shown order as their ranking. An unchanged order without it is refused with 400.",
    )
    skip_reason = serializers.ChoiceField(choices=SkipReason.choices, required=False, allow_blank=True, default="")
    hardness = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
    all_unacceptable = serializers.BooleanField(required=False, default=False)
    custom_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    custom_from = serializers.IntegerField(required=False, allow_null=True, default=None)
    comment = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    time_ms = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)


class SubmittedOutput(serializers.Serializer):
    id = serializers.IntegerField()
    task_id = serializers.IntegerField()
    submission_id = serializers.UUIDField()
    revision = serializers.IntegerField()
    created = serializers.DateTimeField()
    next = ItemOutput(required=False, allow_null=True, help_text="With next=true: the next item, or null")


def item_payload(item: selectors.Item) -> dict:
    """ItemOutput's shape, built directly: DRF's serializer machinery costs more CPU than the claim."""
    return {
        "task_id": item.task.pk,
        "kind": item.task.kind,
        "prompt": item.prompt_text,
        "responses": [{"id": r.id, "label": r.label, "text": r.text} for r in item.responses],
        "claimed_at": item.claim.claimed_at.isoformat(),
        "expires_at": item.claim.expires_at.isoformat(),
    }


class PingOutput(serializers.Serializer):
    user = serializers.IntegerField(help_text="the caller's user id")


class PingApi(APIView):
    """Cheapest authenticated call (an annotation client's auth check; the benchmark's baseline)."""

    permission_classes = [IsAnnotator]

    @extend_schema(responses=PingOutput)
    def get(self, request):
        return Response({"user": request.user.pk})


class ClaimNextApi(APIView):
    """Claim the next rating or ranking item (or get the one already held). 204 when there is none."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=ClaimInput, responses={200: ItemOutput, 204: OpenApiResponse(description="No work")})
    def post(self, request):
        data = ClaimInput(data=request.data)
        data.is_valid(raise_exception=True)
        claim = assignment.task_claim_next(annotator=request.user, kind=data.validated_data["kind"])
        if claim is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(item_payload(selectors.claim_item(claim)))


class _SubmitApi(APIView):
    permission_classes = [IsAnnotator]
    input_class: type[serializers.Serializer]
    service = None
    kind: str

    def post(self, request, task_id: int):
        data = self.input_class(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        want_next = values.pop("next")
        # Refusals propagate to core.api.exception_handler: invalid input 400 with the fields, a claim not
        # held, a reviewed annotation or a reused submission id 409.
        result = type(self).service(annotator=request.user, task_id=task_id, **values)
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        row = result.annotation
        payload = {
            "id": row.pk, "task_id": row.task_id, "submission_id": str(row.submission_id),
            "revision": row.revision, "created": row.created.isoformat(),
        }
        if want_next:
            # Saved and committed above; a retry of this request replays the row and resumes this claim.
            claim = assignment.task_claim_next(annotator=request.user, kind=self.kind)
            payload["next"] = item_payload(selectors.claim_item(claim)) if claim else None
        return Response(payload, status=code)  # the shape of SubmittedOutput, built directly (hot path)


@extend_schema(request=RatingInput, responses={201: SubmittedOutput, 200: SubmittedOutput, 409: ErrorOutput})
class RatingSubmitApi(_SubmitApi):
    """Submit (or revise) a rating of a held item: seven scores 1–5, or a skip with its reason."""

    input_class = RatingInput
    service = submissions.rating_submit
    kind = TaskKind.RATING


@extend_schema(request=RankingInput, responses={201: SubmittedOutput, 200: SubmittedOutput, 409: ErrorOutput})
class RankingSubmitApi(_SubmitApi):
    """Submit (or revise) a ranking of a held item: response ids best first, rejects, custom answer."""

    input_class = RankingInput
    service = submissions.ranking_submit
    kind = TaskKind.RANKING


class ClaimReleaseApi(APIView):
    """Give a held item back unannotated."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses={204: OpenApiResponse(description="Released"), 409: ErrorOutput})
    def post(self, request, task_id: int):
        assignment.claim_release(annotator=request.user, task_id=task_id)  # not held: 409
        return Response(status=status.HTTP_204_NO_CONTENT)


class TasksAssembleInput(serializers.Serializer):
    seed = serializers.IntegerField(min_value=0, max_value=MAX_ID)  # stored with the tasks (bigint)
    prompt_filter = serializers.DictField(required=False, default=dict)
    rating_min_chars = serializers.IntegerField(min_value=1, default=RoutingRule().rating_min_chars)
    rating_min_parts = serializers.IntegerField(min_value=1, default=RoutingRule().rating_min_parts)
    overlap = serializers.IntegerField(min_value=1, max_value=10, default=2)


class TasksAssembleOutput(serializers.Serializer):
    ranking_items = serializers.IntegerField()
    rating_pairs = serializers.IntegerField()
    skipped = serializers.ListField(child=serializers.DictField())


class TasksAssembleApi(APIView):
    """Ranking items and rating pairs for prompts (filter) that have responses and no tasks yet."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(request=TasksAssembleInput, responses={200: TasksAssembleOutput})
    def post(self, request):
        data = TasksAssembleInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        prompts = list(generation_selectors.prompts_without_tasks(v["prompt_filter"]))  # a bad filter: 400
        report = tasks_assemble(
            prompts=prompts, seed=v["seed"], overlap=v["overlap"],
            rule=RoutingRule(rating_min_chars=v["rating_min_chars"], rating_min_parts=v["rating_min_parts"]),
        )
        return Response({
            "ranking_items": report.ranking_items, "rating_pairs": report.rating_pairs,
            "skipped": [{"prompt_id": pk, "reason": why} for pk, why in report.skipped],
        })
