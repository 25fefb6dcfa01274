"""The Django admin lists records of every home (imports, audit entries, state changes,
users and their change history), so it is open only to those who may see every home:
superusers, and admins not limited to regions. Anyone else gets the admin sign-in."""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class PortalAdminSite(admin.AdminSite):
    site_header = "NHSmail hygiene portal: administration"

    def has_permission(self, request):
        user = request.user
        return user.is_active and (user.is_staff or user.is_admin) and user.sees_every_home


class PortalAdminConfig(AdminConfig):
    """Stands in for django.contrib.admin in INSTALLED_APPS, with the site above."""

    default_site = "accounts.adminsite.PortalAdminSite"
