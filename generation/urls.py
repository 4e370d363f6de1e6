from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)

from . import views

app_name = "generation"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/<id:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<id:pk>/<slug:action>/", views.campaign_action, name="campaign_action"),
    path("generations/", views.generations, name="generations"),
    path("generations/<id:pk>/retry/", views.generation_retry, name="generation_retry"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<id:pk>/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<id:pk>/check/", views.endpoint_check, name="endpoint_check"),
    path("preprompts/", views.preprompt_list, name="preprompt_list"),
    path("preprompts/<id:pk>/", views.preprompt_edit_view, name="preprompt_edit"),
    path("responses/import/", views.responses_import_view, name="responses_import"),
]
