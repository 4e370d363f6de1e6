"""Invitation-only sign-up: the sign-up page opens only with a valid invitation token in the session."""

from allauth.account.adapter import DefaultAccountAdapter
from django.utils import timezone

SESSION_KEY = "studio_invitation"


def open_invitation(token: str):
    from core.models import Invitation

    return Invitation.objects.filter(token=token, accepted_at__isnull=True, expires_at__gt=timezone.now()).first()


class InvitationOnlyAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        token = request.session.get(SESSION_KEY)
        return bool(token and open_invitation(token))

    def save_user(self, request, user, form, commit=True):
        from core import roles

        user = super().save_user(request, user, form, commit=True)
        invitation = open_invitation(request.session.get(SESSION_KEY, ""))
        if invitation is not None:
            roles.set_role(user, invitation.role)
            invitation.accepted_by = user
            invitation.accepted_at = timezone.now()
            invitation.save(update_fields=["accepted_by", "accepted_at"])
            request.session.pop(SESSION_KEY, None)
        return user
