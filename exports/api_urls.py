from django.urls import path

from . import api

app_name = "exports_api"
urlpatterns = [
    path("exports/", api.ExportListCreateAPI.as_view(), name="exports"),
    path("exports/<int:export_id>/", api.ExportStatusAPI.as_view(), name="export-status"),
    path("exports/<int:export_id>/files/", api.ExportFilesAPI.as_view(), name="export-files"),
    path("exports/<int:export_id>/files/<str:name>", api.ExportDownloadAPI.as_view(), name="export-download"),
]
