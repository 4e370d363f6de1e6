from django.urls import path

from core import converters  # noqa: F401 - registers <id:…> (database ids)

from . import views

app_name = "home"
urlpatterns = [
    path("", views.home, name="home"),
    path("feedback/<id:pk>/read/", views.feedback_read, name="feedback_read"),
]
