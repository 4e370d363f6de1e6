"""The site's routes, walked from the URL configuration, and how to fill their parameters: shared by the
role × URL matrix (test_access_matrix.py) and the Content-Security-Policy walk (test_csp.py). The objects the
parameters point at come from the `objects` fixture (tests/site/conftest.py)."""

import re

from django.urls import URLResolver, get_resolver

ROLES = ("anonymous", "annotator", "qa_lead", "admin")
SKIP_PREFIXES = ("admin/", "accounts/", "i18n/", "static/")


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = ":".join(x for x in (namespace, pattern.namespace) if x) or None
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        else:
            yield prefix + str(pattern.pattern), (f"{namespace}:" if namespace else "") + (pattern.name or "")


def site_routes():
    return [(path, name) for path, name in _walk(get_resolver().url_patterns) if not path.startswith(SKIP_PREFIXES)]


def route_kwargs(name, path, objects):
    """Fill a route's parameters with an object the annotator owns (or that exists)."""
    kwargs = {}
    for param in re.findall(r"<(?:\w+:)?(\w+)>", path):
        if param == "pk":
            if "dialog" in name:
                kwargs[param] = objects["dialog"]
            elif "endpoint" in name:
                kwargs[param] = objects["endpoint"]
            elif "campaign" in name:
                kwargs[param] = objects["campaign"]
            elif "generation" in name:
                kwargs[param] = objects["generation"]
            elif "preprompt" in name:
                kwargs[param] = objects["preprompt"]
            elif "feedback" in name:
                kwargs[param] = objects["feedback"]
            else:
                kwargs[param] = objects["prompt"]
        elif param == "export_id":
            kwargs[param] = objects["export"]
        elif param == "task_id":
            kwargs[param] = objects["ranking_task"] if ("rank" in name or "gold" in name) else objects["task_id"]
        elif param == "target_id":
            kwargs[param] = objects["ranking"]
        elif param == "kind":
            kwargs[param] = "ranking"
        elif param == "queue":
            kwargs[param] = "custom"
        elif param == "chart":
            kwargs[param] = "alpha"
        elif param == "action":
            kwargs[param] = "pause"
        elif param == "name":
            kwargs[param] = "manifest.json"
        else:
            kwargs[param] = objects[param]
    return kwargs
