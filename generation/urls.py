from django.urls import path, re_path

from . import views

app_name = "generation"
urlpatterns = [
    path("campaigns/", views.campaigns, name="campaigns"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    re_path(
        rf"^campaigns/(?P<pk>\d+)/(?P<action>{'|'.join(views.CAMPAIGN_ACTIONS)})/$",
        views.campaign_action,
        name="campaign_action",
    ),
    path("generations/", views.generations, name="generations"),
    path("generations/<int:pk>/retry/", views.generation_retry, name="generation_retry"),
    path("endpoints/", views.endpoint_list, name="endpoint_list"),
    path("endpoints/new/", views.endpoint_create, name="endpoint_create"),
    path("endpoints/<int:pk>/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:pk>/check/", views.endpoint_check, name="endpoint_check"),
    path("preprompts/", views.preprompt_list, name="preprompt_list"),
    path("preprompts/<int:pk>/", views.preprompt_edit_view, name="preprompt_edit"),
    path("responses/import/", views.responses_import_view, name="responses_import"),
]
