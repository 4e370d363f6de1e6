from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)
from prompts import views as prompts

app_name = "prompts"
urlpatterns = [
    path("guidelines/", prompts.guidelines, name="guidelines"),
    path("prompts/new/", prompts.prompt_create, name="prompt_create"),
    path("prompts/mine/", prompts.my_prompts, name="my_prompts"),
    path("prompts/import/", prompts.prompt_import, name="prompt_import"),
    path("prompts/<id:pk>/", prompts.prompt_detail, name="prompt_detail"),
    path("prompts/<id:pk>/edit/", prompts.prompt_edit, name="prompt_edit"),
]
