"""Generation API for scripts (admins only): endpoints, campaigns and their control, response import."""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import IsStudioAdmin
from core.api import ErrorOutput
from core.pagination import StudioPagination

from . import selectors
from .models import Campaign, Endpoint, PrePrompt
from .services import campaigns as campaign_services
from .services.endpoints import endpoint_check_health
from .services.imports import responses_import

ENDPOINT_SETTINGS = [
    "name", "base_url", "model", "api_key_env", "temperature", "top_p", "top_k", "max_tokens", "context_length",
    "supports_system_role", "max_concurrency", "timeout_seconds", "is_active", "in_dialog_pool",
]


class EndpointInput(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = ENDPOINT_SETTINGS

    def validate(self, attrs):
        max_tokens, context_length = attrs.get("max_tokens"), attrs.get("context_length")
        if max_tokens and context_length and max_tokens >= context_length:
            raise serializers.ValidationError({"max_tokens": "must be smaller than context_length"})
        return attrs


class EndpointOutput(serializers.ModelSerializer):
    # A URL, or "" for an endpoint of imported responses only (the model field's "uri" format would refuse "").
    base_url = serializers.CharField(help_text="e.g. http://127.0.0.1:8100/v1; empty for imported responses only")

    class Meta:
        model = Endpoint
        fields = ["id", *ENDPOINT_SETTINGS, "last_health"]
        read_only_fields = fields


class EndpointListApi(APIView):
    permission_classes = [IsStudioAdmin]

    @extend_schema(responses=EndpointOutput(many=True))
    def get(self, request):
        return Response(EndpointOutput(Endpoint.objects.order_by("name"), many=True).data)


class EndpointCreateApi(APIView):
    """Register a model server; its health is checked at once (`last_health`)."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(request=EndpointInput, responses={201: EndpointOutput})
    def post(self, request):
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = data.save()
        endpoint_check_health(endpoint=endpoint)
        return Response(EndpointOutput(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointCheckApi(APIView):
    permission_classes = [IsStudioAdmin]

    @extend_schema(request=None, responses=EndpointOutput)
    def post(self, request, pk: int):
        endpoint = get_object_or_404(Endpoint, pk=pk)
        endpoint_check_health(endpoint=endpoint)
        return Response(EndpointOutput(endpoint).data)


class CampaignProgressOutput(serializers.Serializer):
    total = serializers.IntegerField()
    pending = serializers.IntegerField()
    running = serializers.IntegerField()
    retrying = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    percent = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    tokens_per_second = serializers.FloatField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    echoes_preprompt = serializers.IntegerField(help_text="Done answers that repeat their pre-prompt (held out)")
    state = serializers.CharField(
        help_text='The status in words, or "waiting for endpoint" while a model server the campaign needs does not '
                  'answer (its generations wait, spending no attempts); "done" only when every generation succeeded, '
                  'else "done with failures" (see failed)')
    waiting_for = serializers.ListField(child=serializers.CharField(),
                                        help_text="Endpoints with work left whose server does not answer")


class CampaignOutput(serializers.ModelSerializer):
    endpoints = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    preprompts = serializers.SlugRelatedField(slug_field="key", many=True, read_only=True)

    class Meta:
        model = Campaign
        fields = ["id", "name", "status", "prompt_filter", "endpoints", "preprompts", "samples", "params",
                  "created", "started_at", "finished_at"]


class CampaignInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    prompt_filter = serializers.DictField(required=False, default=dict)
    endpoints = serializers.SlugRelatedField(slug_field="name", many=True, queryset=Endpoint.objects.all())
    preprompts = serializers.SlugRelatedField(slug_field="key", many=True, queryset=PrePrompt.objects.all())
    samples = serializers.IntegerField(min_value=1, max_value=16, default=1)
    params = serializers.DictField(required=False, default=dict)
    start = serializers.BooleanField(default=False)


class CampaignStatusOutput(CampaignOutput):
    state = serializers.CharField(help_text="The status in words (as progress.state)")
    progress = CampaignProgressOutput()

    class Meta(CampaignOutput.Meta):
        fields = [*CampaignOutput.Meta.fields, "state", "progress"]


class CampaignListApi(APIView):
    permission_classes = [IsStudioAdmin]
    pagination_class = StudioPagination  # read by drf-spectacular too: a paginated body, limit/offset

    @extend_schema(responses=CampaignOutput(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(Campaign.objects.order_by("-id"), request, view=self)
        return paginator.get_paginated_response(CampaignOutput(page, many=True).data)


class CampaignCreateApi(APIView):
    """A campaign (and with `start`, its generation rows and runners); nothing is kept if either step fails."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(request=CampaignInput, responses={201: CampaignOutput, 409: ErrorOutput})
    def post(self, request):
        data = CampaignInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        with transaction.atomic():
            campaign = campaign_services.campaign_create(
                name=v["name"], prompt_filter=v["prompt_filter"], endpoints=v["endpoints"],
                preprompts=v["preprompts"], samples=v["samples"], params=v["params"], created_by=request.user,
            )
            if v["start"]:
                campaign_services.campaign_start(campaign=campaign)
        campaign.refresh_from_db()
        return Response(CampaignOutput(campaign).data, status=status.HTTP_201_CREATED)


def _status_body(campaign: Campaign) -> dict:
    progress = selectors.campaign_progress(campaign)
    body = CampaignOutput(campaign).data
    state = selectors.campaign_state(campaign, progress)
    body["state"] = state
    body["progress"] = CampaignProgressOutput(
        {**progress.__dict__, "percent": progress.percent, "state": state, "waiting_for": list(progress.waiting_for)}
    ).data
    return body


class CampaignStatusApi(APIView):
    permission_classes = [IsStudioAdmin]

    @extend_schema(responses=CampaignStatusOutput)
    def get(self, request, pk: int):
        return Response(_status_body(get_object_or_404(Campaign, pk=pk)))


class _CampaignActionApi(APIView):
    permission_classes = [IsStudioAdmin]
    service = None

    @extend_schema(request=None, responses={200: CampaignStatusOutput, 409: ErrorOutput})
    def post(self, request, pk: int):
        campaign = get_object_or_404(Campaign, pk=pk)
        type(self).service(campaign=campaign)  # a state that refuses the action: CampaignError, 409
        campaign.refresh_from_db()
        return Response(_status_body(campaign))


class CampaignStartApi(_CampaignActionApi):
    service = campaign_services.campaign_start


class CampaignPauseApi(_CampaignActionApi):
    service = campaign_services.campaign_pause


class CampaignResumeApi(_CampaignActionApi):
    service = campaign_services.campaign_resume


class CampaignCancelApi(_CampaignActionApi):
    service = campaign_services.campaign_cancel


class ResponsesImportInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # the import service refuses it, naming the line


class ResponsesImportOutput(serializers.Serializer):
    created = serializers.IntegerField()
    prompts_created = serializers.IntegerField()
    endpoints_created = serializers.IntegerField()
    echoes_preprompt = serializers.IntegerField(help_text="Imported answers that repeat their pre-prompt (held out)")
    errors = serializers.ListField(child=serializers.DictField())


class ResponsesImportApi(APIView):
    """All-or-nothing JSONL import of existing responses; 400 with every bad line when anything is wrong."""

    permission_classes = [IsStudioAdmin]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": ResponsesImportInput},
                   responses={201: ResponsesImportOutput, 400: ResponsesImportOutput})
    def post(self, request):
        data = ResponsesImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        report = responses_import(data=data.validated_data["file"].read(), user=request.user)
        body = {
            "created": report.created,
            "prompts_created": report.prompts_created,
            "endpoints_created": report.endpoints_created,
            "echoes_preprompt": report.echoes_preprompt,
            "errors": [{"line": line, "reason": reason} for line, reason in report.errors],
        }
        return Response(body, status=status.HTTP_201_CREATED if report.ok else status.HTTP_400_BAD_REQUEST)
