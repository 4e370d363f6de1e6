"""Dialog API for scripts: list/start, read, run a turn (the three models, synchronously), retry, decide, finish.

The same services and checks as the pages: own dialogs only (QA leads may read any), typology required,
4..10 turns, idempotent decisions by `submission_id`. Annotators see seats A/B/C, never model names.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import IsAnnotator
from dialogs import services as dialog_services
from dialogs.models import Dialog, DialogCandidate
from dialogs.selectors import dialog_for_user, dialog_state, dialogs_of


class CandidateOutput(serializers.Serializer):
    seat = serializers.CharField(source="seat.label")
    status = serializers.ChoiceField(choices=DialogCandidate.Status.choices)
    text = serializers.CharField()
    error = serializers.CharField(source="public_error")
    completion_tokens = serializers.IntegerField(allow_null=True)
    first_token_ms = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)


class TurnOutput(serializers.Serializer):
    index = serializers.IntegerField(source="turn.index")
    user_text = serializers.CharField(source="turn.user_text")
    typology = serializers.CharField(source="turn.typology.key")
    column_order = serializers.ListField(child=serializers.CharField(), source="turn.column_order")
    candidates = CandidateOutput(many=True, source="columns")
    decided = serializers.BooleanField()
    chosen_seat = serializers.CharField(source="chosen_label")
    custom_text = serializers.CharField(source="turn.custom_text")
    custom_from_seat = serializers.SerializerMethodField()
    assistant_text = serializers.CharField(source="turn.assistant_text")

    def get_custom_from_seat(self, view) -> str:
        return view.turn.custom_from.seat.label if view.turn.custom_from_id else ""


class DialogSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Dialog.Status.choices)
    decided_turns = serializers.IntegerField()
    created = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DialogOutput(serializers.Serializer):
    id = serializers.IntegerField(source="dialog.id")
    status = serializers.ChoiceField(choices=Dialog.Status.choices, source="dialog.status")
    created = serializers.DateTimeField(source="dialog.created")
    finished_at = serializers.DateTimeField(source="dialog.finished_at", allow_null=True)
    can_add_turn = serializers.BooleanField()
    can_finish = serializers.BooleanField()
    context_turns_left = serializers.IntegerField(
        allow_null=True, help_text="more turns that fit the tightest model's context (forecast); null: unknown"
    )
    turns = TurnOutput(many=True)
    seats = serializers.DictField(
        child=serializers.CharField(), required=False,
        help_text="Only for a QA lead reading someone else's dialog: the model (endpoint name) behind each seat",
    )


class TurnInput(serializers.Serializer):
    user_text = serializers.CharField(trim_whitespace=True)
    typology = serializers.CharField(help_text="a dialog typology key, e.g. qa, generation, reasoning")


class RetryInput(serializers.Serializer):
    seat = serializers.ChoiceField(choices=dialog_services.SEAT_LABELS)


class DecideInput(serializers.Serializer):
    submission_id = serializers.UUIDField(help_text="a UUID made by the client; resending it is harmless")
    choice = serializers.ChoiceField(choices=[*dialog_services.SEAT_LABELS, "custom"])
    custom_text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    custom_from = serializers.ChoiceField(choices=dialog_services.SEAT_LABELS, required=False, allow_null=True,
                                          default=None, help_text="the seat a custom answer was copied from")
    time_ms = serializers.IntegerField(required=False, min_value=0, default=0)


def _dialog_response(dialog: Dialog, code: int = status.HTTP_200_OK) -> Response:
    return Response(DialogOutput(dialog_state(Dialog.objects.get(pk=dialog.pk))).data, status=code)


class DialogListApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=DialogSummaryOutput(many=True))
    def get(self, request):
        """The caller's dialogs, newest first."""
        return Response(DialogSummaryOutput(dialogs_of(request.user)[:500], many=True).data)


class DialogStartApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses={201: DialogOutput, 200: DialogOutput})
    def post(self, request):
        """Start a dialog with three models from the pool, or return the caller's open dialog (200)."""
        had_open = Dialog.objects.filter(annotator=request.user, status=Dialog.Status.OPEN).exists()
        dialog = dialog_services.dialog_start(annotator=request.user)
        return _dialog_response(dialog, status.HTTP_200_OK if had_open else status.HTTP_201_CREATED)


class DialogDetailApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(responses=DialogOutput)
    def get(self, request, pk: int):
        """A dialog; a QA lead reading someone else's also gets `seats` (which model sat where)."""
        dialog = dialog_for_user(request.user, pk)
        response = _dialog_response(dialog)
        if dialog.annotator_id != request.user.pk:
            response.data["seats"] = {s.label: s.endpoint.name for s in dialog.seats.select_related("endpoint")}
        return response


class DialogTurnApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=TurnInput, responses={201: DialogOutput})
    def post(self, request, pk: int):
        """Add a user message and run the three models on it (blocks until all three answered or failed)."""
        dialog = dialog_for_user(request.user, pk, write=True)
        data = TurnInput(data=request.data)
        data.is_valid(raise_exception=True)
        turn = dialog_services.dialog_turn_start(dialog=dialog, **data.validated_data)
        dialog_services.turn_run(turn=turn)
        return _dialog_response(dialog, status.HTTP_201_CREATED)


def _turn(dialog: Dialog, index: int):
    return get_object_or_404(dialog.turns.all(), index=index)


class DialogRetryApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=RetryInput, responses=DialogOutput)
    def post(self, request, pk: int, index: int):
        """Run a failed model of a turn again."""
        dialog = dialog_for_user(request.user, pk, write=True)
        turn = _turn(dialog, index)
        data = RetryInput(data=request.data)
        data.is_valid(raise_exception=True)
        dialog_services.candidate_retry(turn=turn, seat=data.validated_data["seat"])
        dialog_services.turn_run(turn=turn)
        return _dialog_response(dialog)


class DialogDecideApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=DecideInput, responses=DialogOutput)
    def post(self, request, pk: int, index: int):
        dialog = dialog_for_user(request.user, pk, write=True)
        turn = _turn(dialog, index)
        data = DecideInput(data=request.data)
        data.is_valid(raise_exception=True)
        dialog_services.dialog_turn_decide(turn=turn, **data.validated_data)
        return _dialog_response(dialog)


class DialogFinishApi(APIView):
    permission_classes = [IsAnnotator]

    @extend_schema(request=None, responses=DialogOutput)
    def post(self, request, pk: int):
        dialog = dialog_for_user(request.user, pk, write=True)
        dialog_services.dialog_finish(dialog=dialog)
        return _dialog_response(dialog)
