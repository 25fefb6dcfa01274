"""One door per object: everything a signed-in user reads is loaded through here."""

from functools import wraps

from django.http import Http404

from .models import CareHome, ImportRecord, SharedMailbox, StaffAccount
from .rules import normalise_ods_code


def homes_for(user):
    return CareHome.objects.for_user(user)


def get_home_for_user(user, ods_code: str) -> CareHome:
    """The home with this ODS code if the user may see it; 404 otherwise (never 403, so
    the existence of other homes is not revealed)."""
    home = (
        homes_for(user)
        .select_related("region")
        .filter(ods_code=normalise_ods_code(ods_code))
        .first()
    )
    if home is None:
        raise Http404("No such care home.")
    return home


def accounts_for(user):
    return StaffAccount.objects.filter(home__in=homes_for(user))


def mailboxes_for(user):
    return SharedMailbox.objects.filter(home__in=homes_for(user))


def admin_only(view):
    """Admins only: anyone else gets 404, as for anything out of their scope. Put it under
    @login_required, so that anonymous visitors are sent to sign in first."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_admin:
            raise Http404("Not found.")
        return view(request, *args, **kwargs)

    return wrapper


def import_records_for(user):
    """Import records are the uploader's own; admins who see every home see them all (the
    records of command-line imports included). Anyone else sees none."""
    if not user.is_authenticated or not user.is_active or not user.is_admin:
        return ImportRecord.objects.none()
    if user.sees_every_home:
        return ImportRecord.objects.all()
    return ImportRecord.objects.filter(user=user)


def get_import_record_for_user(user, pk: int) -> ImportRecord:
    record = import_records_for(user).select_related("user").filter(pk=pk).first()
    if record is None:
        raise Http404("No such import record.")
    return record
