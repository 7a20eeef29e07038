"""Project access: the role of a user in a project and the checks every view makes.

* project unknown, or the user is not a member -> 404 (a project's existence is not revealed);
* a member whose role is too weak for the action -> 403;
* a superuser is ``admin`` everywhere.

Sensitive taxa (``store.flag_sensitive``): their precise locations — the sites they are linked to,
site geometries, subnational places — are shown only to admins and to members whose membership
has ``sees_sensitive``. Every page, API answer and export asks ``Access.hidden_taxa()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from assess2plan.errors import A2PError
from assess2plan.web.app.models import ROLES, ProjectMembership
from assess2plan.web.store.models import Project

#: what each action needs (the weakest role allowed)
NEEDS = {"read": "viewer", "edit": "assessor", "decide": "facilitator", "manage": "admin"}


def rank(role: str | None) -> int:
    return ROLES.index(role) if role in ROLES else -1


def project_role(user, project: Project) -> str | None:  # noqa: ANN001
    """The role of ``user`` in ``project`` (None: no access)."""
    return _membership(user, project)[0]


def _membership(user, project: Project) -> tuple[str | None, bool]:  # noqa: ANN001
    """(role, may see sensitive locations) of ``user`` in ``project``."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None, False
    if user.is_superuser:
        return "admin", True
    m = ProjectMembership.objects.filter(user=user, project=project).only("role", "sees_sensitive").first()
    if m is None:
        return None, False
    return m.role, bool(m.sees_sensitive or m.role == "admin")


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
    #: may see the precise locations of sensitive taxa
    sees_sensitive: bool = False

    def can(self, action: str) -> bool:
        return rank(self.role) >= rank(NEEDS[action])

    def hidden_taxa(self) -> frozenset[str]:
        """Taxon ids whose precise locations this user may not see (empty when they may see all)."""
        if self.sees_sensitive:
            return frozenset()
        from assess2plan import store

        return frozenset(store.sensitive_taxa(self.project.slug))


def refuse_hidden_places(access: Access, fields: Iterable[str]) -> None:
    """A filter on subnational places would tell where sensitive species live: refused (A2PError)
    for a user who may not see their locations, when the project has any."""
    if "subnational" in set(fields) and access.hidden_taxa():
        raise A2PError(
            "the subnational filter is only for users allowed to see the locations of sensitive species "
            "(ask a project admin)"
        )


def access_for(user, project: Project) -> Access | None:  # noqa: ANN001
    """The access of ``user`` to ``project``, or None when they are not a member."""
    role, sensitive = _membership(user, project)
    return Access(project, role, sensitive) if role is not None else None


def require(request, slug: str, action: str = "read") -> Access:  # noqa: ANN001
    """The project ``slug`` if the request's user may ``action`` it; else Http404 / PermissionDenied."""
    project = Project.objects.filter(slug=slug).first()
    access = access_for(request.user, project) if project is not None else None
    if access is None:
        raise Http404("no such project")
    if not access.can(action):
        raise PermissionDenied(f"your role in {slug!r} is {access.role}; this needs {NEEDS[action]}")
    return access
