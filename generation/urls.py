from django.urls import path

from . import views

app_name = "generation"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/assemble/", views.campaign_assemble, name="campaign_assemble"),
    path("campaigns/<int:pk>/<slug:action>/", views.campaign_action, name="campaign_action"),
    path("generations/<int:pk>/retry/", views.generation_retry, name="generation_retry"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<int:pk>/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:pk>/check/", views.endpoint_check, name="endpoint_check"),
    path("preprompts/", views.preprompt_list, name="preprompt_list"),
    path("preprompts/<int:pk>/", views.preprompt_edit_view, name="preprompt_edit"),
    path("responses/import/", views.responses_import_view, name="responses_import"),
    path("tasks/assemble/", views.tasks_assemble_all, name="tasks_assemble"),
]
