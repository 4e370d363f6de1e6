from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)
from core.api import operations

from . import api

app_name = "exports_api"
urlpatterns = [
    path("exports/", operations(get=api.ExportListApi, post=api.ExportCreateApi), name="exports"),
    path("exports/<id:export_id>/", api.ExportStatusApi.as_view(), name="export-status"),
    path("exports/<id:export_id>/files/", api.ExportFilesApi.as_view(), name="export-files"),
    path("exports/<id:export_id>/files/<str:name>", api.ExportDownloadApi.as_view(), name="export-download"),
]
