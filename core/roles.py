"""The three roles, as Django groups. Everything that checks a role goes through here."""

from django.contrib.auth.models import Group

ANNOTATOR = "annotator"
QA_LEAD = "qa_lead"
ADMIN = "admin"
ALL_ROLES = (ANNOTATOR, QA_LEAD, ADMIN)


def role_names(user) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_studio_roles", None)
    if cached is None:
        cached = roles_from_groups(user, user.groups.values_list("name", flat=True))
        user._studio_roles = cached
    return cached


def roles_from_groups(user, group_names) -> frozenset[str]:
    """The role set of a user in these groups (a superuser is an admin whatever their groups)."""
    names = frozenset(group_names)
    return names | {ADMIN} if user.is_superuser else names


def has_role(user, *roles: str) -> bool:
    """Admins may do everything QA leads may; QA leads everything annotators may see of their own."""
    names = role_names(user)
    if ADMIN in names:
        return True
    if QA_LEAD in names and (QA_LEAD in roles or ANNOTATOR in roles):
        return True
    return any(role in names for role in roles)


def is_admin(user) -> bool:
    return ADMIN in role_names(user)


def is_qa(user) -> bool:
    return has_role(user, QA_LEAD)


def is_annotator(user) -> bool:
    return has_role(user, ANNOTATOR)


def ensure_groups() -> None:
    for name in ALL_ROLES:
        Group.objects.get_or_create(name=name)


def set_role(user, role: str) -> None:
    if role not in ALL_ROLES:
        raise ValueError(f"unknown role {role!r}")
    ensure_groups()
    user.groups.set([Group.objects.get(name=role)])
    if role == ADMIN:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.__dict__.pop("_studio_roles", None)
