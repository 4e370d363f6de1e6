from django.urls import path

from .views import prompts

urlpatterns = [
    path("guidelines/", prompts.guidelines, name="guidelines"),
    path("prompts/new/", prompts.prompt_create, name="prompt_create"),
    path("prompts/mine/", prompts.my_prompts, name="my_prompts"),
]
