"""Accounts: admins invite people by role; an invitation link opens sign-up for one browser session."""

import secrets
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import defaults
from django.views.decorators.http import require_http_methods

from .access import admin_required
from .accounts import SESSION_KEY, open_invitation
from .forms import InvitationForm
from .models import Invitation


@admin_required
@require_http_methods(["GET", "POST"])
def invitations(request):
    form = InvitationForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        created = Invitation.objects.create(
            token=secrets.token_urlsafe(24),
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            expires_at=timezone.now() + timedelta(days=form.cleaned_data["days"]),
        )
        link = request.build_absolute_uri(reverse("core:invitation_accept", args=[created.token]))
        if created.email:
            send_mail(
                _("Invitation to Preference Studio"),
                _("You have been invited as %(role)s. Create your account here: %(link)s")
                % {"role": created.role, "link": link},
                None,
                [created.email],
            )
        messages.success(request, _("Invitation created: %(link)s") % {"link": link})
        form = InvitationForm()
    items = Invitation.objects.select_related("invited_by", "accepted_by").order_by("-created")[:100]
    return render(request, "core/invitations.html", {"form": form, "invitations": items})


@require_http_methods(["GET"])
def invitation_accept(request, token: str):
    """Public: a valid invitation opens the sign-up form for this browser session."""
    if open_invitation(token) is None:
        raise PermissionDenied(_("This invitation is invalid, used or expired."))
    request.session[SESSION_KEY] = token
    return redirect("account_signup")


@require_http_methods(["GET", "HEAD"])
def favicon(request):
    """`/favicon.ico`, which browsers and bookmarks ask for whatever the page says: the static icon.

    Public (no login: the login page needs it too); temporary, so a new static name is picked up."""
    return redirect(static("favicon.ico"))


def page_not_found(request, exception):
    """404 for the whole site: API clients get DRF's JSON shape (`{"detail": …}`), people get the styled page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)
