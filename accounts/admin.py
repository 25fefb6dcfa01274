from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from . import worklistcounts
from .models import (
    AuditEntry,
    CareHome,
    CheckRun,
    ImportRecord,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    StateChange,
    User,
)
from .scoping import homes_for
from .tasks import queue_check


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class ScopedAdmin(SimpleHistoryAdmin):
    """Staff who are not superusers see only the homes the portal lets them see."""

    home_path = "home"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.home_path}__in": homes_for(request.user)})

    # An edit here can move people on or off the worklist, or a home to another region:
    # every region's worklist counts are counted again (edits here are rare).
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        worklistcounts.changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        worklistcounts.changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        worklistcounts.changed()

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple_history's "Revert" saves with save_model alone, never save_related: the
        # revert and the new versions commit together here.
        with transaction.atomic():
            response = super().history_form_view(request, object_id, version_id, extra_context)
            if request.method == "POST" and response.status_code == 302:
                worklistcounts.changed()
        return response


@admin.register(CareHome)
class CareHomeAdmin(ScopedAdmin):
    home_path = "pk"
    list_display = ["ods_code", "name", "region", "registered_landline", "cqc_location_id"]
    list_filter = ["region"]
    list_select_related = ["region"]
    search_fields = ["ods_code", "name"]


class LinkInline(admin.TabularInline):
    model = MailboxLink
    extra = 0
    autocomplete_fields = ["account", "mailbox"]


@admin.register(SharedMailbox)
class SharedMailboxAdmin(ScopedAdmin):
    list_display = ["email", "home", "risk", "alive_accounts", "forecast_date", "checked_at"]
    list_filter = ["risk", "home__region"]
    list_select_related = ["home"]
    search_fields = ["email", "display_name", "home__ods_code", "home__name"]
    readonly_fields = ["risk", "alive_accounts", "forecast_date", "checked_at"]
    autocomplete_fields = ["home"]
    inlines = [LinkInline]


@admin.register(StaffAccount)
class StaffAccountAdmin(ScopedAdmin):
    list_display = [
        "email",
        "display_name",
        "home",
        "reported_status",
        "state",
        "last_activity",
        "disable_date",
    ]
    list_filter = ["state", "reported_status", "home__region"]
    list_select_related = ["home"]
    search_fields = ["email", "display_name", "home__ods_code", "home__name"]
    readonly_fields = ["last_activity_date", "state", "disable_date", "state_changed_at"]
    autocomplete_fields = ["home"]
    inlines = [LinkInline]


@admin.register(MailboxLink)
class MailboxLinkAdmin(ScopedAdmin):
    home_path = "mailbox__home"
    list_display = ["account", "mailbox"]
    list_select_related = ["account", "mailbox"]
    search_fields = ["account__email", "mailbox__email", "mailbox__home__ods_code"]
    autocomplete_fields = ["account", "mailbox"]


@admin.register(User)
class UserAdmin(SimpleHistoryAdmin, BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active", "is_staff", "last_login"]
    list_filter = ["role", "is_active", "is_staff", "regions"]
    search_fields = ["email", "full_name", "homes__ods_code"]
    filter_horizontal = ["homes", "regions", "groups", "user_permissions"]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name", "role"]}),
        ("What they may see", {"fields": ["homes", "regions"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "role", "password1", "password2"]})
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the check: readable, never editable by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CheckRun)
class CheckRunAdmin(ReadOnlyAdmin):
    list_display = [
        "as_of",
        "started_at",
        "finished_at",
        "outcome",
        "trigger",
        "checked",
        "newly_flagged",
        "recovered",
        "events",
    ]
    list_filter = ["outcome", "trigger"]
    date_hierarchy = "started_at"
    change_list_template = "admin/accounts/checkrun/change_list.html"

    def get_urls(self):
        run_now = self.admin_site.admin_view(self.run_now)
        return [path("run-now/", run_now, name="accounts_checkrun_run_now"), *super().get_urls()]

    def run_now(self, request):
        """Queue the check for today through the broker, as the nightly schedule would."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        queued, message = queue_check(request.user)
        self.message_user(request, message, messages.SUCCESS if queued else messages.ERROR)
        return HttpResponseRedirect(reverse("admin:accounts_checkrun_changelist"))


@admin.register(StateChange)
class StateChangeAdmin(ReadOnlyAdmin):
    list_display = ["run", "as_of", "account", "mailbox", "from_value", "to_value"]
    # Newest first by id, read backwards from the primary key: events are appended run
    # after run, and the run's own index is a BRIN (migration 0029), which sorts nothing,
    # so the model's order (run, then id) sorted every event ever recorded on each page.
    ordering = ["-id"]
    list_filter = [("run", admin.RelatedOnlyFieldListFilter), "to_value", "from_value", "as_of"]
    list_select_related = ["run", "account", "mailbox"]
    search_fields = ["account__email", "mailbox__email"]
    raw_id_fields = ["run", "account", "mailbox"]


@admin.register(ImportRecord)
class ImportRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "kind",
        "file_name",
        "source",
        "user",
        "outcome",
        "rows",
        "created",
        "updated",
        "unchanged",
        "skipped",
    ]
    list_filter = ["kind", "outcome", "source"]
    list_select_related = ["user"]
    search_fields = ["file_name", "sha256", "user__email"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "user", "action", "home", "subject", "detail"]
    list_filter = ["action"]
    list_select_related = ["user", "home"]
    search_fields = ["user__email", "subject", "home__ods_code", "detail"]
    date_hierarchy = "at"

    def has_delete_permission(self, request, obj=None):
        return False
