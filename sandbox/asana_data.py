"""Deterministic, seeded sales-operations data for the Asana simulator.

Everything is drawn from one ``random.Random(seed)`` and the simulator's fixed "now", never from
the global generator or the wall clock: the same arguments always give the same workspace.

The shape follows Asana's object model (``shared/vendor-api/asana/asana_oas.yaml``): a
workspace holds projects; a project has sections (its board columns) and custom field
settings; a task belongs to one or more projects, each time in one section (``memberships``),
may be a milestone (``resource_subtype``), and may have subtasks, which by default belong to no
project at all. Records hold numbers, short strings and references to shared objects; no JSON
is built here, so 50,000 tasks take well under two seconds and a few tens of megabytes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: How far back the generated history reaches.
HISTORY_DAYS: Final = 150
#: Asana gids are 16-digit decimal strings; here they grow in creation order.
FIRST_GID: Final = 1_208_400_000_000_000
WORKSPACE_NAME: Final = "Northwind Revenue"
SECTION_NAMES: Final = ("Backlog", "In progress", "Review", "Done")

TaskSubtype = str  # "default_task" | "milestone" | "approval" (the spec's enum, less "custom")


@dataclass(frozen=True, slots=True)
class User:
    gid: str
    name: str
    email: str


@dataclass(frozen=True, slots=True)
class Tag:
    gid: str
    name: str


@dataclass(frozen=True, slots=True)
class EnumOption:
    gid: str
    name: str
    color: str


@dataclass(frozen=True, slots=True)
class CustomField:
    gid: str
    name: str
    #: ``number`` or ``enum`` (the spec's ``type``/``resource_subtype``).
    type: str
    precision: int = 0
    options: tuple[EnumOption, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    gid: str
    name: str
    project_gid: str
    created_ms: int


@dataclass(slots=True)
class Project:
    gid: str
    name: str
    notes: str
    color: str
    owner: User
    created_ms: int
    modified_ms: int
    sections: list[Section]
    archived: bool = False
    #: Set by the simulator's ``hide_project``: the credentials lose sight of the project.
    hidden: bool = False


@dataclass(slots=True)
class Task:
    """One task. Times are epoch milliseconds (UTC)."""

    gid: str
    name: str
    resource_subtype: TaskSubtype
    created_ms: int
    #: Asana's ``modified_at``: property changes, not moves between containers (§3.3).
    modified_ms: int
    #: When the task last counted as "modified" for ``modified_since``: ``modified_ms`` or a
    #: later change of association (added to a project, moved to another section).
    touched_ms: int
    completed: bool
    completed_ms: int | None
    assignee: User | None
    #: (project gid, section gid), in the order the task joined them.
    memberships: list[tuple[str, str]]
    parent: str | None
    subtasks: list[str]
    tags: tuple[Tag, ...]
    due_on: date | None
    #: A due time; when set, ``due_on`` is its UTC date.
    due_at_ms: int | None
    start_on: date | None
    story_points: float | None
    priority: EnumOption | None
    notes: str = ""


@dataclass(slots=True)
class Dataset:
    workspace_gid: str
    #: The account the simulator's token belongs to (``/users/me``).
    me: User
    users: list[User]
    projects: list[Project]
    tags: list[Tag]
    story_points: CustomField
    priority: CustomField
    #: In gid order, which is creation order; subtasks come after their parent.
    tasks: list[Task] = field(default_factory=list)
    #: The next free gid.
    next_gid: int = FIRST_GID


_PROJECTS: Final = (
    ("CRM Migration", "Moving every account, contact and open deal from the legacy CRM.", "crm"),
    ("Sales Kickoff 2027", "Two days in Lisbon: agenda, awards, breakouts and logistics.", "sko"),
    ("Quote-to-Cash Revamp", "CPQ, approvals and e-signature on one path.", "q2c"),
    ("Partner Enablement", "Certifying resellers on the new product line.", "partner"),
    ("Territory Planning FY27", "Carving and balancing next year's territories.", "territory"),
)

_TEMPLATES: Final[dict[str, tuple[str, ...]]] = {
    "crm": (
        "Map {object} fields from {legacy} to {crm}",
        "Migrate {region} {object} records",
        "Dedupe {object} records before cutover",
        "Rebuild the {report} report in {crm}",
        "Train {team} on the new {crm} views",
        "Retire {legacy} workflow for {object}",
        "Validate {object} ownership rules for {region}",
    ),
    "sko": (
        "Confirm breakout on {topic}",
        "Draft keynote section on {topic}",
        "Collect {team} award nominations",
        "Book travel for the {region} team",
        "Order swag for {region} attendees",
        "Rehearse the {topic} panel",
    ),
    "q2c": (
        "Automate {doc} approvals for {region}",
        "Configure the {product} price book",
        "Fix tax lines on {region} quotes",
        "Route non-standard {doc} terms to deal desk",
        "Connect e-signature to {doc} flow",
    ),
    "partner": (
        "Publish {product} certification for {region} partners",
        "Record demo of {product} for resellers",
        "Review {region} partner pipeline",
    ),
    "territory": (
        "Balance {region} territories by {metric}",
        "Assign named accounts for {team}",
        "Model quota scenarios for {region}",
    ),
}
_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "object": ("account", "contact", "opportunity", "lead", "quote"),
    "legacy": ("SugarCRM", "the old Dynamics"),
    "crm": ("HubSpot", "Salesforce"),
    "region": ("EMEA", "NA", "APAC", "DACH", "LATAM"),
    "report": ("pipeline", "win-rate", "forecast", "renewals"),
    "team": ("AE", "SDR", "CSM", "SE"),
    "topic": ("value selling", "multi-threading", "pricing", "partner-led deals", "AI in sales"),
    "doc": ("quote", "order form", "MSA", "discount"),
    "product": ("Analytics Pro", "Data Hub", "Starter"),
    "metric": ("account count", "pipeline", "whitespace"),
}
_MILESTONES: Final[dict[str, tuple[str, ...]]] = {
    "crm": ("Data freeze", "Cutover weekend", "Legacy CRM read-only"),
    "sko": ("Venue contract signed", "Agenda locked", "Kickoff day"),
    "q2c": ("CPQ pilot live", "Approval matrix signed off"),
    "partner": ("Certification launch", "First 20 partners certified"),
    "territory": ("Territories published", "Quota letters out"),
}
_SUBTASKS: Final = (
    "Collect requirements",
    "Get sign-off",
    "Update the runbook",
    "Check with finance",
    "Share with the field",
    "Write the test plan",
)
_PEOPLE: Final = (
    ("Ines", "Carvalho"),
    ("Mateo", "Rossi"),
    ("Aiko", "Tanaka"),
    ("Fatima", "Haddad"),
    ("Liam", "O'Brien"),
    ("Noor", "Aziz"),
    ("Greta", "Nilsson"),
    ("Samuel", "Osei"),
    ("Yara", "Mendes"),
    ("Felix", "Brandt"),
    ("Zoe", "Laurent"),
)
_TAGS: Final = ("q1", "emea", "na", "apac", "exec ask", "blocked", "quick win", "data quality")
_COLORS: Final = ("dark-blue", "light-green", "dark-orange", "light-purple", "dark-teal")
#: (section index, weight): most work is waiting or done.
_SECTION_WEIGHTS: Final = (35, 25, 10, 30)
_POINTS: Final = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
_PRIORITIES: Final = (("High", "red"), ("Medium", "yellow-orange"), ("Low", "blue-green"))


def _phrases(theme: str) -> list[str]:
    pool: list[str] = []
    for template in _TEMPLATES[theme]:
        names = [n for n in _SLOTS if "{" + n + "}" in template]
        for combo in itertools.product(*(_SLOTS[n] for n in names)):
            pool.append(template.format(**dict(zip(names, combo, strict=True))))
    return pool


def _project_specs(count: int) -> list[tuple[str, str, str]]:
    specs = list(_PROJECTS[:count])
    for n in range(len(specs), count):
        specs.append((f"Revenue Pod {n + 1}", "A regional revenue team's board.", "territory"))
    return specs


def _email(first: str, last: str) -> str:
    clean = last.lower().replace("'", "")
    return f"{first.lower()}.{clean}@northwind.example"


class _Gids:
    def __init__(self, rng: Random, start: int) -> None:
        self._rng = rng
        self.next = start

    def take(self) -> str:
        gid = self.next
        self.next += self._rng.randint(1, 40)
        return str(gid)


def generate_dataset(
    *,
    items: int,
    projects: int,
    seed: int,
    now: datetime,
    email: str,
) -> Dataset:
    """Build a sales-ops workspace with ``items`` work items (tasks and subtasks, milestones
    not counted) spread over ``projects`` projects; the same arguments give the same data."""
    if items < 0 or projects < 1:
        raise ValueError("need items >= 0 and projects >= 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = Random(seed)
    gids = _Gids(rng, FIRST_GID)
    now_ms = (now - EPOCH) // timedelta(milliseconds=1)
    start_ms = now_ms - HISTORY_DAYS * 86_400_000
    today = now.astimezone(UTC).date()

    workspace_gid = gids.take()
    local = email.split("@", 1)[0]
    me = User(gids.take(), " ".join(p.capitalize() for p in local.split(".")) or email, email)
    people = rng.sample(_PEOPLE, rng.randint(7, len(_PEOPLE)))
    users = [User(gids.take(), f"{first} {last}", _email(first, last)) for first, last in people]
    tags = [Tag(gids.take(), name) for name in _TAGS]
    story_points = CustomField(gids.take(), "Story points", "number", precision=0)
    priority = CustomField(
        gids.take(),
        "Priority",
        "enum",
        options=tuple(EnumOption(gids.take(), name, color) for name, color in _PRIORITIES),
    )

    project_list: list[Project] = []
    themes: list[str] = []
    for index, (name, notes, theme) in enumerate(_project_specs(projects)):
        created = start_ms + index * 3_600_000
        gid = gids.take()
        sections = [Section(gids.take(), s, gid, created) for s in SECTION_NAMES]
        project_list.append(
            Project(
                gid=gid,
                name=name,
                notes=notes,
                color=_COLORS[index % len(_COLORS)],
                owner=rng.choice(users),
                created_ms=created,
                modified_ms=created,
                sections=sections,
            )
        )
        themes.append(theme)

    data = Dataset(
        workspace_gid=workspace_gid,
        me=me,
        users=users,
        projects=project_list,
        tags=tags,
        story_points=story_points,
        priority=priority,
    )
    pools = {theme: _phrases(theme) for theme in set(themes)}
    tasks: list[Task] = []

    # Milestones first: two or three per project, due over the coming months.
    for project, theme in zip(project_list, themes, strict=True):
        due = today - timedelta(days=rng.randint(20, 50))
        for name in _MILESTONES[theme][: rng.randint(2, 3)]:
            due += timedelta(days=rng.randint(14, 45))
            created = start_ms + rng.randrange(0, 20 * 86_400_000)
            reached = due < today and rng.random() < 0.85
            done_ms = min(now_ms, (due - EPOCH.date()).days * 86_400_000 + 61_200_000)
            modified = max(created, done_ms) if reached else created
            section = project.sections[3 if reached else 0]
            tasks.append(
                Task(
                    gid=gids.take(),
                    name=name,
                    resource_subtype="milestone",
                    created_ms=created,
                    modified_ms=modified,
                    touched_ms=modified,
                    completed=reached,
                    completed_ms=done_ms if reached else None,
                    assignee=project.owner,
                    memberships=[(project.gid, section.gid)],
                    parent=None,
                    subtasks=[],
                    tags=(),
                    due_on=due,
                    due_at_ms=None,
                    start_on=None,
                    story_points=None,
                    priority=None,
                )
            )

    remaining = items
    by_gid: dict[str, Task] = {}
    cum_sections = list(itertools.accumulate(_SECTION_WEIGHTS))
    total_weight = cum_sections[-1]
    span = max(1, now_ms - start_ms)
    while remaining > 0:
        index = rng.randrange(len(project_list))
        project, theme = project_list[index], themes[index]
        task = _task(
            rng,
            gids,
            project,
            pools[theme],
            users,
            tags,
            priority,
            cum_sections,
            total_weight,
            start_ms + rng.randrange(span),
            now_ms,
            today,
        )
        if len(project_list) > 1 and rng.random() < 0.03:
            other = project_list[
                (index + 1 + rng.randrange(len(project_list) - 1)) % len(project_list)
            ]
            task.memberships.append((other.gid, other.sections[0].gid))
        tasks.append(task)
        by_gid[task.gid] = task
        remaining -= 1
        if remaining > 0 and rng.random() < 0.12:
            for _ in range(min(remaining, rng.randint(1, 3))):
                child = _subtask(rng, gids, task, users, now_ms)
                tasks.append(child)
                task.subtasks.append(child.gid)
                remaining -= 1
                if remaining > 0 and rng.random() < 0.08:
                    grandchild = _subtask(rng, gids, child, users, now_ms)
                    tasks.append(grandchild)
                    child.subtasks.append(grandchild.gid)
                    remaining -= 1
    data.tasks = tasks
    data.next_gid = gids.next
    return data


def _task(
    rng: Random,
    gids: _Gids,
    project: Project,
    pool: list[str],
    users: list[User],
    tags: list[Tag],
    priority: CustomField,
    cum_sections: list[int],
    total_weight: int,
    created: int,
    now_ms: int,
    today: date,
) -> Task:
    roll = rng.randrange(total_weight)
    section_index = next(i for i, edge in enumerate(cum_sections) if roll < edge)
    section = project.sections[section_index]
    completed = (section_index == 3 and rng.random() < 0.92) or rng.random() < 0.03
    modified = created + rng.randrange(max(1, now_ms - created))
    completed_ms = modified if completed else None
    due_on: date | None = None
    due_at_ms: int | None = None
    start_on: date | None = None
    if rng.random() < 0.6:
        due_on = today + timedelta(days=rng.randint(-30, 60))
        if rng.random() < 0.08:
            due_at_ms = (due_on - EPOCH.date()).days * 86_400_000 + 15 * 3_600_000
        elif rng.random() < 0.3:
            start_on = due_on - timedelta(days=rng.randint(2, 14))
    chosen_tags = tuple(rng.sample(tags, rng.choice((0, 0, 0, 1, 1, 2))))
    return Task(
        gid=gids.take(),
        name=rng.choice(pool),
        resource_subtype="approval" if rng.random() < 0.02 else "default_task",
        created_ms=created,
        modified_ms=modified,
        touched_ms=modified,
        completed=completed,
        completed_ms=completed_ms,
        assignee=rng.choice(users) if rng.random() < 0.8 else None,
        memberships=[(project.gid, section.gid)],
        parent=None,
        subtasks=[],
        tags=chosen_tags,
        due_on=due_on,
        due_at_ms=due_at_ms,
        start_on=start_on,
        story_points=rng.choice(_POINTS) if rng.random() < 0.7 else None,
        priority=rng.choice(priority.options) if rng.random() < 0.6 else None,
    )


def _subtask(rng: Random, gids: _Gids, parent: Task, users: list[User], now_ms: int) -> Task:
    created = parent.created_ms + rng.randrange(max(1, now_ms - parent.created_ms))
    modified = created + rng.randrange(max(1, now_ms - created))
    completed = rng.random() < 0.4
    return Task(
        gid=gids.take(),
        name=rng.choice(_SUBTASKS),
        resource_subtype="default_task",
        created_ms=created,
        modified_ms=modified,
        touched_ms=modified,
        completed=completed,
        completed_ms=modified if completed else None,
        assignee=rng.choice(users) if rng.random() < 0.7 else None,
        # Subtasks belong to no project unless someone adds them to one (Asana's default).
        memberships=[],
        parent=parent.gid,
        subtasks=[],
        tags=(),
        due_on=None,
        due_at_ms=None,
        start_on=None,
        story_points=None,
        priority=None,
    )
