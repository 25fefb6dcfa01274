from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views
from accounts.forms import EmailAuthenticationForm

urlpatterns = [
    path("", views.landing, name="home"),
    path("health/", views.health, name="health"),
    path("dashboard/", views.dashboard_view, name="dashboard"),
    path("homes/<str:ods_code>/", views.home_detail, name="home_detail"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("guidance/", include("guidance.urls")),
    path("admin/", admin.site.urls),
]
