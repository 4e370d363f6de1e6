from django.urls import path

from . import views

app_name = "home"
urlpatterns = [
    path("", views.home, name="home"),
    path("feedback/<int:pk>/read/", views.feedback_read, name="feedback_read"),
]
