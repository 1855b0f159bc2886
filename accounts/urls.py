"""The portal's URLs: no mailbox ids, everything is "my mailbox"."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("password/", views.password_change, name="password_change"),
    path("password/reset/", views.password_reset, name="password_reset"),
    path(
        "password/reset/sent/",
        views.password_reset_sent,
        name="password_reset_sent",
    ),
    path(
        "password/reset/<str:uidb64>/<str:token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("recovery/", views.recovery, name="recovery"),
    path("forwarding/", views.forwarding, name="forwarding"),
    path("out-of-office/", views.vacation, name="vacation"),
]
