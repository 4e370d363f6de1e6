from django.urls import path

from . import api

urlpatterns = [
    path("exports/", api.ExportListCreateAPI.as_view(), name="api-exports"),
    path("exports/<int:export_id>/", api.ExportStatusAPI.as_view(), name="api-export-status"),
    path("exports/<int:export_id>/files/", api.ExportFilesAPI.as_view(), name="api-export-files"),
    path("exports/<int:export_id>/files/<str:name>", api.ExportDownloadAPI.as_view(), name="api-export-download"),
]
