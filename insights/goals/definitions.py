"""Defining goals: create, change, delete, measure; every invalid goal a precise 422.

A goal is validated whole (its stored fields merged with the change) before anything is
written: target equal to baseline, due before start, inverted thresholds, a selector naming
something that does not exist or that belongs to another connection, and a cycle of parents
are each refused with the field they concern.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from insights.goals.model import GoalDef, GoalStatus, Metric, ProgressFrom
from sync.errors import Conflict, InvalidRequest
from sync.store import goals as store
from sync.store import tables as t
from sync.store.goal_tables import GoalMeasurement
from sync.store.goals import GoalFilters, ScopeSelector

#: Stored fields a request may set; the rest (id, times) are pmbridge's.
FIELDS = (
    "title",
    "description",
    "owner",
    "metric",
    "unit",
    "baseline",
    "target",
    "start_date",
    "due_date",
    "parent_id",
    "weight",
    "relevance",
    "status",
    "confidence",
    "progress_from",
    "at_risk_below",
    "off_track_below",
)
REQUIRED = frozenset({"title", "metric", "baseline", "weight", "status", "progress_from"})
DEFAULTS: dict[str, Any] = {
    "baseline": 0.0,
    "weight": 1.0,
    "status": GoalStatus.DRAFT.value,
    "progress_from": ProgressFrom.SCOPE.value,
}


@dataclass(frozen=True, slots=True)
class SelectorDraft:
    """A selector as a client writes it: the assignee may be named by e-mail."""

    connection_id: int | None = None
    project_id: int | None = None
    milestone_id: int | None = None
    assignee_id: int | None = None
    assignee_email: str | None = None
    labels: tuple[str, ...] = ()
    item_types: tuple[str, ...] = ()

    @classmethod
    def of(cls, s: ScopeSelector) -> SelectorDraft:
        return cls(
            connection_id=s.connection_id,
            project_id=s.project_id,
            milestone_id=s.milestone_id,
            assignee_id=s.assignee_id,
            labels=s.labels,
            item_types=s.item_types,
        )


# -- validation ----------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Metric | GoalStatus | ProgressFrom) else value


def validate_fields(values: Mapping[str, Any]) -> None:
    """Checks that need nothing but the goal's own fields."""
    for name in REQUIRED:
        if values.get(name) is None:
            raise InvalidRequest(f"{name} cannot be null", field=name)
    title = str(values["title"]).strip()
    if not title:
        raise InvalidRequest("a goal needs a title", field="title")
    metric = Metric(values["metric"])
    baseline, target = values["baseline"], values.get("target")
    if target is None and metric is Metric.NUMERIC:
        raise InvalidRequest(
            "a numeric goal needs a target: the value you mean to reach", field="target"
        )
    if target is not None and target == baseline:
        raise InvalidRequest(
            f"target equals the baseline ({baseline:g}): progress is measured from the "
            "baseline towards the target, so set a target that differs from where you start",
            field="target",
            baseline=baseline,
        )
    start, due = values.get("start_date"), values.get("due_date")
    if start is not None and due is not None and due < start:
        raise InvalidRequest(
            f"due_date {due.isoformat()} is before start_date {start.isoformat()}",
            field="due_date",
        )
    at_risk, off_track = values.get("at_risk_below"), values.get("off_track_below")
    if at_risk is not None and at_risk > 0:
        raise InvalidRequest(
            "at_risk_below is a variance (progress - expected) at or below 0, e.g. -0.1",
            field="at_risk_below",
        )
    if off_track is not None and off_track > (at_risk if at_risk is not None else 0.0):
        raise InvalidRequest(
            "off_track_below must be at or below at_risk_below: off track is worse than at risk",
            field="off_track_below",
        )


def validate_scope_shape(
    metric: Metric, progress_from: ProgressFrom, scope: Sequence[SelectorDraft]
) -> None:
    if progress_from is ProgressFrom.CHILDREN and scope:
        raise InvalidRequest(
            "a goal whose progress rolls up from its children has no scope of its own: "
            "remove the selectors or set progress_from to scope",
            field="scope",
        )
    for index, s in enumerate(scope):
        where = f"scope[{index}]"
        if (
            s.connection_id is None
            and s.project_id is None
            and s.milestone_id is None
            and s.assignee_id is None
            and s.assignee_email is None
            and not s.labels
            and not s.item_types
        ):
            raise InvalidRequest(
                f"{where} is empty and would match everything: name at least a connection",
                field=where,
            )
        if s.assignee_id is not None and s.assignee_email is not None:
            raise InvalidRequest(
                f"{where}: name the assignee by assignee_id or assignee_email, not both",
                field=f"{where}.assignee_email",
            )
        item_only = [
            name
            for name, given in (
                ("labels", bool(s.labels)),
                ("item_types", bool(s.item_types)),
                ("assignee", s.assignee_id is not None or s.assignee_email is not None),
            )
            if given
        ]
        if metric is Metric.MILESTONES_REACHED and item_only:
            raise InvalidRequest(
                f"{where}: a milestones_reached goal selects milestones by connection, project "
                f"or milestone; {', '.join(item_only)} only select work items",
                field=f"{where}.{item_only[0]}",
            )


def resolve_scope(session: Session, scope: Sequence[SelectorDraft]) -> list[ScopeSelector]:
    """Check every reference exists and agrees with the selector's connection."""
    connections = store.existing_ids(
        session, t.Connection, (s.connection_id for s in scope if s.connection_id is not None)
    )
    projects = store.owners_of(
        session, t.Project, (s.project_id for s in scope if s.project_id is not None)
    )
    milestones = store.owners_of(
        session, t.Milestone, (s.milestone_id for s in scope if s.milestone_id is not None)
    )
    people = store.existing_ids(
        session, t.Person, (s.assignee_id for s in scope if s.assignee_id is not None)
    )
    emails = store.person_ids_by_email(
        session, (s.assignee_email for s in scope if s.assignee_email is not None)
    )
    resolved = []
    for index, s in enumerate(scope):
        where = f"scope[{index}]"
        if s.connection_id is not None and s.connection_id not in connections:
            raise InvalidRequest(
                f"{where}.connection_id: no connection {s.connection_id}; "
                "GET /admin/connections lists them",
                field=f"{where}.connection_id",
            )
        for name, ref, owners in (
            ("project", s.project_id, projects),
            ("milestone", s.milestone_id, milestones),
        ):
            if ref is None:
                continue
            if ref not in owners:
                raise InvalidRequest(
                    f"{where}.{name}_id: no {name} {ref}; GET /v1/{name}s lists them",
                    field=f"{where}.{name}_id",
                )
            if s.connection_id is not None and owners[ref] != s.connection_id:
                raise InvalidRequest(
                    f"{where}.{name}_id: {name} {ref} belongs to connection {owners[ref]}, "
                    f"not to connection {s.connection_id}",
                    field=f"{where}.{name}_id",
                )
        assignee_id = s.assignee_id
        if assignee_id is not None and assignee_id not in people:
            raise InvalidRequest(
                f"{where}.assignee_id: no person {assignee_id}", field=f"{where}.assignee_id"
            )
        if s.assignee_email is not None:
            assignee_id = emails.get(s.assignee_email.lower())
            if assignee_id is None:
                raise InvalidRequest(
                    f"{where}.assignee_email: nobody with e-mail {s.assignee_email} is known; "
                    "people appear once a sync sees them",
                    field=f"{where}.assignee_email",
                )
        resolved.append(
            ScopeSelector(
                connection_id=s.connection_id,
                project_id=s.project_id,
                milestone_id=s.milestone_id,
                assignee_id=assignee_id,
                labels=tuple(dict.fromkeys(label.strip() for label in s.labels if label.strip())),
                item_types=tuple(dict.fromkeys(k.strip() for k in s.item_types if k.strip())),
            )
        )
    return resolved


def check_parent(session: Session, goal_id: int | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    if not store.goals_by_id(session, [parent_id]):
        raise InvalidRequest(f"parent_id: no goal {parent_id}", field="parent_id")
    if goal_id is None:
        return
    above = store.ancestors(session, parent_id)
    if parent_id == goal_id or goal_id in above:
        loop = above[: above.index(goal_id) + 1] if goal_id in above else []
        chain = [goal_id, parent_id, *loop]
        raise InvalidRequest(
            "parent_id: that would make a cycle of parents ("
            + " -> ".join(str(g) for g in chain)
            + "); a goal cannot roll up into itself",
            field="parent_id",
        )


# -- writing -------------------------------------------------------------------------------
def _stored(values: Mapping[str, Any]) -> dict[str, Any]:
    result = {name: _plain(values[name]) for name in FIELDS if name in values}
    if "title" in result and result["title"] is not None:
        result["title"] = str(result["title"]).strip()
    return result


def create_goal(
    session: Session, values: Mapping[str, Any], scope: Sequence[SelectorDraft], *, now: datetime
) -> GoalDef:
    fields = {**DEFAULTS, **_stored(values)}
    validate_fields(fields)
    validate_scope_shape(Metric(fields["metric"]), ProgressFrom(fields["progress_from"]), scope)
    selectors = resolve_scope(session, scope)
    check_parent(session, None, fields.get("parent_id"))
    row = store.insert_goal(session, fields, selectors, now=now)
    return GoalDef.from_row(row, selectors)


def update_goal(
    session: Session,
    goal_id: int,
    changes: Mapping[str, Any],
    scope: Sequence[SelectorDraft] | None,
    *,
    now: datetime,
) -> GoalDef:
    row = store.get_goal(session, goal_id)
    current = store.selectors_of(session, [goal_id])[goal_id]
    changed = _stored(changes)
    merged = {name: getattr(row, name) for name in FIELDS} | changed
    validate_fields(merged)
    drafts = list(scope) if scope is not None else [SelectorDraft.of(s) for s in current]
    validate_scope_shape(Metric(merged["metric"]), ProgressFrom(merged["progress_from"]), drafts)
    selectors = resolve_scope(session, drafts) if scope is not None else None
    if "parent_id" in changed:
        check_parent(session, goal_id, changed["parent_id"])
    store.update_goal(session, row, changed, selectors, now=now)
    return GoalDef.from_row(row, selectors if selectors is not None else current)


def delete_goal(session: Session, goal_id: int) -> None:
    row = store.get_goal(session, goal_id)
    children = store.children_of(session, [goal_id])[goal_id]
    if children:
        raise Conflict(
            f"goal {goal_id} has child goals {children}: give them another parent "
            "(PATCH parent_id) or delete them first",
            goal_id=goal_id,
        )
    store.delete_goal(session, row)


def load_goal(session: Session, goal_id: int) -> GoalDef:
    row = store.get_goal(session, goal_id)
    return GoalDef.from_row(row, store.selectors_of(session, [goal_id])[goal_id])


def list_goals(
    session: Session, filters: GoalFilters, *, after_id: int | None, limit: int
) -> list[GoalDef]:
    rows = store.list_goals(session, filters, after_id=after_id, limit=limit)
    selectors = store.selectors_of(session, [r.id for r in rows])
    return [GoalDef.from_row(r, selectors[r.id]) for r in rows]


def record_measurement(
    session: Session,
    goal_id: int,
    *,
    value: float,
    measured_at: datetime,
    source: str | None = None,
    note: str | None = None,
    now: datetime,
) -> GoalMeasurement:
    row = store.get_goal(session, goal_id)
    if row.metric != Metric.NUMERIC.value:
        raise InvalidRequest(
            f"goal {goal_id} measures {row.metric} from its scope; measurements are for "
            "numeric goals",
            field="metric",
        )
    if measured_at > now:
        raise InvalidRequest(
            f"measured_at {measured_at.isoformat()} is in the future: the latest measurement "
            "is the current value, so it must have happened",
            field="measured_at",
        )
    return store.add_measurement(
        session, goal_id, value=value, measured_at=measured_at, source=source, note=note, now=now
    )


def measurements(session: Session, goal_id: int, *, limit: int) -> list[GoalMeasurement]:
    store.get_goal(session, goal_id)
    return store.measurements_of(session, goal_id, limit=limit)
