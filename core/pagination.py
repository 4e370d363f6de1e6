"""The API's pages (settings: REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]).

Its own module: DRF reads the setting while `rest_framework.generics` loads, so this must not import what
imports that (drf-spectacular, core.api).
"""

from rest_framework.pagination import LimitOffsetPagination


class StudioPagination(LimitOffsetPagination):
    """DRF's limit/offset pages with `limit` capped: unbounded, a huge limit went to the database as LIMIT and
    failed there (a 500). An offset past the last row never reaches the database (DRF answers an empty page
    after counting)."""

    max_limit = 1000
