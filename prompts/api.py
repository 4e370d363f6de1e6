"""Prompt API for scripts and pipelines: list (own prompts for annotators, all for QA/admin), create, import."""

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core import roles
from core.access import IsAnnotator, IsStudioAdmin
from core.pagination import StudioPagination
from prompts import services as prompt_services
from prompts.models import Category, Prompt, PromptSource, Topic


class PromptOutput(serializers.ModelSerializer):
    category = serializers.SlugRelatedField(slug_field="key", read_only=True)
    topic = serializers.SerializerMethodField()

    class Meta:
        model = Prompt
        fields = ["id", "text", "category", "topic", "source", "created"]

    def get_topic(self, prompt) -> str | None:
        """The topic's reference (English) name, "theme › subtheme" under an ethics theme: the same whatever
        the request's language (input accepts the Polish name too)."""
        topic = prompt.topic
        if topic is None:
            return None
        return f"{topic.parent.name_en} › {topic.name_en}" if topic.parent_id else topic.name_en


class PromptInput(serializers.Serializer):
    text = serializers.CharField(allow_blank=False, trim_whitespace=True)
    category = serializers.SlugRelatedField(slug_field="key", queryset=Category.objects.all())
    topic = serializers.CharField(required=False, allow_blank=True)
    source = serializers.ChoiceField(choices=PromptSource.choices, default=PromptSource.ORIGINAL)
    duplicate_reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        name = (attrs.pop("topic", "") or "").strip()
        attrs["topic_obj"] = None
        if name:
            topic = Topic.objects.filter(
                Q(name_en__iexact=name) | Q(name_pl__iexact=name), categories=attrs["category"]
            ).first()
            if topic is None:
                raise serializers.ValidationError({"topic": f"unknown topic {name!r} for {attrs['category'].key}"})
            attrs["topic_obj"] = topic
        return attrs


class DuplicateOutput(serializers.Serializer):
    prompt_id = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
    exact = serializers.BooleanField()


class DuplicatesOutput(serializers.Serializer):
    detail = serializers.CharField()
    duplicates = DuplicateOutput(many=True)


class PromptListApi(APIView):
    """Prompts, newest first: the caller's own (QA leads and admins: all); `?category=<key>` narrows."""

    permission_classes = [IsAnnotator]
    pagination_class = StudioPagination  # read by drf-spectacular too: a paginated body, limit/offset

    @extend_schema(
        parameters=[OpenApiParameter("category", str, description="a category key, e.g. qa_global")],
        responses=PromptOutput(many=True),
    )
    def get(self, request):
        qs = Prompt.objects.select_related("category", "topic__parent").order_by("-id")
        if not roles.is_qa(request.user):
            qs = qs.filter(author=request.user)
        if request.query_params.get("category"):
            qs = qs.filter(category__key=request.query_params["category"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(PromptOutput(page, many=True).data)


class PromptCreateApi(APIView):
    """A new prompt; 409 with the similar prompts unless `duplicate_reason` says why to keep it."""

    permission_classes = [IsAnnotator]

    @extend_schema(request=PromptInput, responses={201: PromptOutput, 409: DuplicatesOutput})
    def post(self, request):
        data = PromptInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        duplicates = prompt_services.prompt_duplicates(text=v["text"])
        if duplicates and not v["duplicate_reason"].strip():
            return Response(
                {"detail": "similar prompts exist; resend with duplicate_reason to keep it",
                 "duplicates": DuplicateOutput(duplicates, many=True).data},
                status=status.HTTP_409_CONFLICT,
            )
        prompt = prompt_services.prompt_create(
            author=request.user, text=v["text"], category=v["category"], topic=v["topic_obj"],
            source=v["source"], duplicate_reason=v["duplicate_reason"] if duplicates else "",
        )
        return Response(PromptOutput(prompt).data, status=status.HTTP_201_CREATED)


class PromptImportInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)  # the import service refuses it, naming the line
    allow_duplicates = serializers.BooleanField(default=False)


class PromptImportOutput(serializers.Serializer):
    created = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())  # {"line", "reason"}
    duplicates = serializers.ListField(child=serializers.DictField())  # {"line", "of"}


class PromptImportApi(APIView):
    """All-or-nothing import (CSV or JSONL). 400 with every bad line when anything is wrong."""

    permission_classes = [IsStudioAdmin]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(request={"multipart/form-data": PromptImportInput},
                   responses={201: PromptImportOutput, 400: PromptImportOutput})
    def post(self, request):
        data = PromptImportInput(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        raw = upload.read()
        report = prompt_services.prompts_import(
            data=raw, fmt=prompt_services.detect_format(upload.name, raw), author=request.user,
            allow_duplicates=data.validated_data["allow_duplicates"],
        )
        body = {
            "created": report.created,
            "errors": [{"line": line, "reason": reason} for line, reason in report.errors],
            "duplicates": [{"line": line, "of": what} for line, what in report.duplicates],
        }
        return Response(body, status=status.HTTP_201_CREATED if report.ok else status.HTTP_400_BAD_REQUEST)
