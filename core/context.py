from core import roles as r


def roles(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"is_admin": False, "is_qa": False, "is_annotator": False}
    return {"is_admin": r.is_admin(user), "is_qa": r.is_qa(user), "is_annotator": r.is_annotator(user)}
