"""Exports API for scripts and pipelines: create, status, list files, download. Admins only.

One APIView per operation. Parameters are the flat dict stored on the export (see exports/README.md):
every ExportParams field plus the selection filters; omitted keys take their defaults.
"""

from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.access import IsStudioAdmin

from . import selectors, services
from .models import Export


class ExportCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    params = serializers.DictField(required=False, default=dict)


class ExportOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    status_url = serializers.SerializerMethodField()
    files_url = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = ["id", "name", "status", "progress", "counters", "error", "params", "manifest_sha256", "created",
                  "finished_at", "created_by", "status_url", "files_url"]

    def get_status_url(self, obj) -> str:
        return reverse("exports_api:export-status", args=[obj.pk])

    def get_files_url(self, obj) -> str:
        return reverse("exports_api:export-files", args=[obj.pk])


class ExportFileOutput(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    rows = serializers.IntegerField(required=False)
    url = serializers.CharField()


def _get_export(export_id: int) -> Export:
    return get_object_or_404(Export.objects.select_related("created_by"), pk=export_id)


class ExportListApi(APIView):
    """The latest exports (at most 100), newest first."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(responses=ExportOutput(many=True))
    def get(self, request):
        exports = selectors.exports_recent()[:100]
        return Response(ExportOutput(exports, many=True).data)


class ExportCreateApi(APIView):
    """Queue a new export ({"name", "params"}); 201 with its status."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(request=ExportCreateInput, responses={201: ExportOutput})
    def post(self, request):
        data = ExportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_create(  # refused parameters: 400 with the field
            user=request.user, name=data.validated_data["name"], params=data.validated_data["params"]
        )
        return Response(ExportOutput(export).data, status=status.HTTP_201_CREATED)


class ExportStatusApi(APIView):
    permission_classes = [IsStudioAdmin]

    @extend_schema(responses=ExportOutput)
    def get(self, request, export_id: int):
        return Response(ExportOutput(_get_export(export_id)).data)


class ExportFilesApi(APIView):
    """The files of a finished export with their SHA-256 (empty until it is done)."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(responses=ExportFileOutput(many=True))
    def get(self, request, export_id: int):
        export = _get_export(export_id)
        files = [
            {**f, "url": reverse("exports_api:export-download", args=[export.pk, f["name"]])}
            for f in selectors.export_files(export)
        ]
        return Response(ExportFileOutput(files, many=True).data)


class ExportDownloadApi(APIView):
    """One file of a finished export (only names listed in its manifest)."""

    permission_classes = [IsStudioAdmin]

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, export_id: int, name: str):
        path = selectors.export_file_path(_get_export(export_id), name)
        if path is None:
            raise Http404
        return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
