"""API token authentication that loads the user and their roles in one query.

DRF's `TokenAuthentication` reads the token with its user (one ORM query) and the role check then reads the
user's groups (a second one); building and compiling those two ORM queries was most of the CPU of a cheap
API call. This reads token, user and group names in one plain SQL statement (`core.sql`) and fills the role
cache that `core.roles` consults, so an annotation client's request costs one query before the view runs.
Semantics are DRF's: an unknown key or an inactive user is a 401 with DRF's messages.
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token

from core import roles, sql


class StudioTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`, as DRF's, with the user's roles read in the same query."""

    def authenticate_credentials(self, key):
        statement, names = sql.token_user_groups()
        with connection.cursor() as cursor:
            cursor.execute(statement, [key])
            rows = cursor.fetchall()
        if not rows:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user = get_user_model().from_db(connection.alias, list(names), list(rows[0][: len(names)]))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        user._studio_roles = roles.roles_from_groups(user, (row[-1] for row in rows if row[-1] is not None))
        return user, Token(key=key, user=user)
