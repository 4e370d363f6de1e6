from django.urls import path

from . import views

app_name = "core"
urlpatterns = [
    path("invitations/", views.invitations, name="invitations"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("favicon.ico", views.favicon, name="favicon"),
]
