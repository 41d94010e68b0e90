"""Admin project pages' services: create and update from a form, with the settings spelled out."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.admin.forms import blank_to_none, checkbox
from app.models import Project, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate, ProjectOut, ProjectUpdate


class ProjectForm(BaseModel):
    """A project form's raw values, kept to refill the form after a validation error."""

    name: str = ""
    slug: str = ""
    guidelines: str = ""
    min_submitted: str = "1"
    rating_scale: str = "1-5"
    # Checkboxes: a browser leaves unchecked ones out of the form, so absent means off.
    require_ranking: str | None = None
    exclude_holdout: str | None = None
    hide_others: str | None = None
    reservation_minutes: str = "30"
    auto_approve: str | None = None
    min_annotations: str = "2"
    min_top1_agreement: str = "1.0"

    @classmethod
    def blank(cls) -> ProjectForm:
        """A new project's form with the default settings ticked."""
        return cls(require_ranking="on", exclude_holdout="on", hide_others="on")

    @classmethod
    def from_project(cls, project: Project) -> ProjectForm:
        """The form filled with a project's current values."""
        rule = project.setting("auto_approve") or {}
        return cls(name=project.name, slug=project.slug, guidelines=project.guidelines,
                   min_submitted=str(project.setting("min_submitted")),
                   rating_scale=str(project.setting("rating_scale")),
                   require_ranking="on" if project.setting("require_ranking") else None,
                   exclude_holdout="on" if project.setting("exclude_holdout") else None,
                   hide_others="on" if project.setting("hide_others") else None,
                   reservation_minutes=str(project.setting("reservation_minutes")),
                   auto_approve="on" if rule else None, min_annotations=str(rule.get("min_annotations", 2)),
                   min_top1_agreement=str(rule.get("min_top1_agreement", 1.0)))

    def settings(self) -> dict[str, Any]:
        """The settings part for the project schemas, which validate it."""
        rule = None
        if checkbox(self.auto_approve):
            rule = {"min_annotations": self.min_annotations, "min_top1_agreement": self.min_top1_agreement}
        return {"min_submitted": self.min_submitted, "rating_scale": self.rating_scale,
                "require_ranking": checkbox(self.require_ranking), "exclude_holdout": checkbox(self.exclude_holdout),
                "hide_others": checkbox(self.hide_others), "reservation_minutes": self.reservation_minutes,
                "auto_approve": rule}


def list_projects(session: Session) -> list[ProjectOut]:
    """Every project with its counts by status."""
    return projects.list_projects(session)


def create_from_form(session: Session, *, form: ProjectForm, by: User) -> Project:
    """A new project from the admin form; raises ValidationError or AppError with what is wrong."""
    data = ProjectCreate.model_validate({"name": form.name, "slug": blank_to_none(form.slug),
                                         "guidelines": form.guidelines, "settings": form.settings()})
    return projects.create_project(session, data=data, by=by)


def update_from_form(session: Session, *, slug: str, form: ProjectForm) -> Project:
    """Save the name, guidelines and settings from the admin form."""
    data = ProjectUpdate.model_validate({"name": form.name, "guidelines": form.guidelines,
                                         "settings": form.settings()})
    return projects.update_project(session, slug=slug, data=data)


def get_project(session: Session, *, slug: str) -> Project:
    return projects.get_project(session, slug=slug)
