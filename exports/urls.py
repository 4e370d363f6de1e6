from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)

from . import views

app_name = "exports"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/", views.export_create, name="create"),
    path("<id:export_id>/", views.export_detail, name="detail"),
    path("<id:export_id>/progress/", views.export_progress, name="progress"),
    path("<id:export_id>/rebuild/", views.export_rebuild, name="rebuild"),
    path("<id:export_id>/files/<str:name>", views.export_download, name="download"),
]
