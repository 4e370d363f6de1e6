from django.urls import path

from . import views

app_name = "generation"
urlpatterns = [
    path("campaigns/", views.placeholder, name="campaigns"),
]
