from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from accounts import authviews, notifyviews, views
from accounts.imports import views as importviews


class FaviconRedirect(RedirectView):
    """The vendored icon's address is read per request: with hashed static names it is
    only known once the manifest exists."""

    permanent = False

    def get_redirect_url(self, *args, **kwargs):
        return static("nhsuk/assets/images/favicon.ico")


urlpatterns = [
    path("", views.landing, name="home"),
    path("health/", views.health, name="health"),
    # Browsers ask for /favicon.ico whatever the page says: send them to the vendored one.
    path(
        "favicon.ico",
        FaviconRedirect.as_view(),
    ),
    path("dashboard/", views.dashboard_view, name="dashboard"),
    path("dashboard/homes.csv", views.dashboard_csv, name="dashboard_csv"),
    path("worklist/", views.worklist_view, name="worklist"),
    path("worklist.csv", views.worklist_csv, name="worklist_csv"),
    path("checks/run/", views.run_check_now, name="run_check_now"),
    path("check-in/<str:token>/", notifyviews.check_in, name="check_in"),
    path("email-preferences/", notifyviews.email_preferences, name="email_preferences"),
    path("homes/<str:ods_code>/", views.home_detail, name="home_detail"),
    path(
        "homes/<str:ods_code>/accounts/<int:pk>/<slug:action>/",
        views.account_action,
        name="account_action",
    ),
    path("imports/new/", importviews.import_new, name="import_new"),
    path("imports/<str:token>/", importviews.import_preview, name="import_preview"),
    path("imports/<str:token>/confirm/", importviews.import_confirm, name="import_confirm"),
    path("imports/<str:token>/progress/", importviews.import_progress, name="import_progress"),
    path("import-records/", importviews.import_history, name="import_history"),
    path("import-records/<int:pk>/", importviews.import_record, name="import_record"),
    path("exports/<str:kind>.csv", importviews.export_download, name="export_download"),
    path("accounts/login/", authviews.sign_in, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password-reset/", authviews.password_reset, name="password_reset"),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("guidance/", include("guidance.urls")),
    path("", include("api.urls")),
    path("admin/", admin.site.urls),
]
