from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("guidelines/", views.guidelines, name="guidelines"),
    path("prompts/new/", views.prompt_create, name="prompt_create"),
    path("prompts/mine/", views.my_prompts, name="my_prompts"),
]
