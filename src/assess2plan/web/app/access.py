"""Project access: the role of a user in a project and the checks every view makes.

* project unknown, or the user is not a member -> 404 (a project's existence is not revealed);
* a member whose role is too weak for the action -> 403;
* a superuser is ``admin`` everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from assess2plan.web.app.models import ROLES, ProjectMembership
from assess2plan.web.store.models import Project

#: what each action needs (the weakest role allowed)
NEEDS = {"read": "viewer", "edit": "assessor", "decide": "facilitator", "manage": "admin"}


def rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def project_role(user, project: Project) -> str | None:  # noqa: ANN001
    """The role of ``user`` in ``project`` (None: no access)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return "admin"
    m = ProjectMembership.objects.filter(user=user, project=project).only("role").first()
    return m.role if m else None


def visible_projects(user):  # noqa: ANN001, ANN201 - QuerySet of (Project) annotated with nothing
    """Projects ``user`` may open: all for a superuser, else those they are a member of."""
    qs = Project.objects.order_by("slug")
    if user.is_superuser:
        return qs
    return qs.filter(memberships__user=user)


@dataclass(frozen=True)
class Access:
    project: Project
    role: str

    def can(self, action: str) -> bool:
        return rank(self.role) >= rank(NEEDS[action])


def require(request, slug: str, action: str = "read") -> Access:  # noqa: ANN001
    """The project ``slug`` if the request's user may ``action`` it; else Http404 / PermissionDenied."""
    project = Project.objects.filter(slug=slug).first()
    role = project_role(request.user, project) if project is not None else None
    if project is None or role is None:
        raise Http404("no such project")
    access = Access(project, role)
    if not access.can(action):
        raise PermissionDenied(f"your role in {slug!r} is {role}; this needs {NEEDS[action]}")
    return access
