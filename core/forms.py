from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Invitation
from .roles import ALL_ROLES


class InvitationForm(forms.Form):
    email = forms.EmailField(required=False, label=_("E-mail (optional: leave empty for a link only)"))
    role = forms.ChoiceField(choices=[(r, r) for r in ALL_ROLES], label=_("Role"))
    days = forms.IntegerField(min_value=1, max_value=60, initial=14, label=_("Valid for (days)"))

    class Meta:
        model = Invitation
