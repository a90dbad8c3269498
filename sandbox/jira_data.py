"""Deterministic, seeded sales-operations data for the Jira simulator.

Everything here is drawn from one ``random.Random(seed)`` and the simulator's fixed "now", never
from the global generator or the wall clock, so the same arguments always give the same data.

The records are plain slotted dataclasses holding numbers, short strings and references to
shared objects (users, tuples of labels, pooled summaries). No JSON is built here: the simulator
renders issues per page, which keeps 100,000 issues at a few tens of megabytes and the generation
well under two seconds.
"""

from __future__ import annotations

import itertools
import uuid
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Final, Literal

StatusCategoryKey = Literal["new", "indeterminate", "done"]

#: Jira's fixed status categories: key -> (id, name, colorName), as seen in real responses.
STATUS_CATEGORIES: Final[dict[StatusCategoryKey, tuple[int, str, str]]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: StatusCategoryKey
    description: str


#: The workflow every simulated project uses, by name.
STATUSES: Final[dict[str, Status]] = {
    s.name: s
    for s in (
        Status("10000", "To Do", "new", "Work that is ready to be picked up."),
        Status("10001", "Backlog", "new", "Captured, not yet planned."),
        Status("3", "In Progress", "indeterminate", "Someone is working on it."),
        Status("10002", "In Review", "indeterminate", "Waiting for a reviewer."),
        Status("10003", "Blocked", "indeterminate", "Cannot move until something else does."),
        Status("10004", "Done", "done", "Finished."),
        Status("10005", "Won't Do", "done", "Closed without doing the work."),
    )
}


@dataclass(frozen=True, slots=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    #: Jira's hierarchy: 1 epic, 0 standard issue, -1 sub-task.
    hierarchy_level: int
    description: str


ISSUE_TYPES: Final[dict[str, IssueType]] = {
    t.name: t
    for t in (
        IssueType("10000", "Epic", False, 1, "A big user story that needs to be broken down."),
        IssueType("10001", "Story", False, 0, "Functionality or a feature expressed as a goal."),
        IssueType("10002", "Task", False, 0, "A small, distinct piece of work."),
        IssueType("10003", "Bug", False, 0, "A problem or error."),
        IssueType("10004", "Sub-task", True, -1, "A small piece of work within a bigger task."),
    )
}

#: Priority name -> id, in Jira's default scheme.
PRIORITIES: Final[dict[str, str]] = {
    "Highest": "1",
    "High": "2",
    "Medium": "3",
    "Low": "4",
    "Lowest": "5",
}

#: Resolution a done status carries, name -> id.
RESOLUTIONS: Final[dict[str, str]] = {"Done": "10000", "Won't Do": "10001"}


def resolution_for(status: str) -> str | None:
    """The resolution Jira's default workflow sets on entering ``status`` (None when not done)."""
    if STATUSES[status].category != "done":
        return None
    return "Won't Do" if status == "Won't Do" else "Done"


@dataclass(frozen=True, slots=True)
class User:
    account_id: str
    email: str
    display_name: str
    time_zone: str
    active: bool = True


@dataclass(slots=True)
class Project:
    id: int
    key: str
    name: str
    description: str
    lead: User
    #: Team-managed ("next-gen") projects are ``simplified``; company-managed ones are not.
    simplified: bool
    #: Set by the simulator's ``hide_project``: the credentials lose sight of the project.
    hidden: bool = False
    #: Number the next new issue key takes (``CRM-<next_number>``).
    next_number: int = 1


@dataclass(frozen=True, slots=True)
class Version:
    id: int
    project_id: int
    name: str
    description: str
    start_date: date
    release_date: date
    released: bool
    archived: bool


@dataclass(slots=True)
class Issue:
    """One issue. Times are epoch milliseconds (UTC), the unit Jira stores and compares."""

    id: int
    key: str
    #: The number after the dash in ``key``; ``ORDER BY key`` sorts on it numerically.
    number: int
    project_id: int
    issuetype: str
    summary: str
    status: str
    priority: str
    assignee: User | None
    reporter: User
    labels: tuple[str, ...]
    duedate: date | None
    created_ms: int
    updated_ms: int
    resolution: str | None
    resolution_ms: int | None
    fix_version_ids: tuple[int, ...]
    parent_id: int | None
    story_points: float | None

    @property
    def created(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.created_ms)

    @property
    def updated(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.updated_ms)


@dataclass(slots=True)
class DynamicWebhook:
    """A webhook an OAuth 2.0 app registered with ``POST /rest/api/3/webhook`` (spec schema
    ``Webhook``). It is delivered until ``expires_ms`` unless refreshed (30 days each time)."""

    id: int
    url: str
    events: tuple[str, ...]
    jql_filter: str
    expires_ms: int
    field_ids_filter: tuple[str, ...] | None = None
    issue_property_keys_filter: tuple[str, ...] | None = None


@dataclass(slots=True)
class Dataset:
    #: The account the simulator's credentials belong to (``/myself``).
    myself: User
    #: The team: assignees and reporters, ``myself`` not included.
    users: list[User]
    projects: list[Project]
    versions: list[Version]
    #: In id order, which is also creation order.
    issues: list[Issue] = field(default_factory=list)


EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_ISSUE_ID: Final = 10001
FIRST_PROJECT_ID: Final = 10000
FIRST_VERSION_ID: Final = 10000
#: How far back the generated history reaches.
HISTORY_DAYS: Final = 120

_BASE_PROJECTS: Final = (
    ("CRM", "CRM Rollout", "Moving the sales team onto the new CRM, region by region."),
    ("PIPE", "Pipeline Reviews", "Weekly pipeline inspection, forecast hygiene and deal reviews."),
    ("ENBL", "Sales Enablement", "Training, playbooks and content that help reps close."),
)
_EXTRA_PROJECTS: Final = (
    ("TERR", "Territory Planning", "Carving territories and balancing coverage for next year."),
    ("DEAL", "Deal Desk", "Pricing approvals, non-standard terms and quote reviews."),
    ("RNWL", "Renewals", "Renewal forecasting and churn-risk follow-up."),
    ("PRTN", "Partner Channel", "Reseller onboarding and partner-sourced pipeline."),
    ("FCST", "Forecasting", "Forecast roll-ups, call cadence and accuracy tracking."),
    ("LEAD", "Lead Routing", "Inbound lead assignment rules and SLA monitoring."),
    ("COMP", "Compensation", "Commission plans, quotas and payout disputes."),
)

_PEOPLE: Final = (
    ("Amara", "Okafor"),
    ("Jonas", "Weber"),
    ("Priya", "Raman"),
    ("Lucas", "Moreau"),
    ("Sofia", "Lindqvist"),
    ("Daniel", "Kim"),
    ("Elena", "Petrova"),
    ("Marcus", "Hale"),
    ("Chloe", "Dubois"),
    ("Tomás", "Álvarez"),
    ("Hannah", "Schmidt"),
    ("Kenji", "Watanabe"),
)
_ZONES: Final = ("Europe/Berlin", "Europe/London", "America/New_York", "Asia/Singapore")

_MILESTONES: Final = (
    ("Q4 Launch", "Everything the field needs for the Q4 push."),
    ("Pilot EMEA", "First region live on the new process."),
    ("Q3 Cleanup", "Data-quality fixes carried over from Q3."),
    ("NA Go-Live", "North America switches over."),
    ("APAC Pilot", "Singapore and Sydney teams trial the rollout."),
    ("FY27 Kickoff", "Ready for the sales kickoff in January."),
    ("Renewals Push", "Tooling for the year-end renewal wave."),
)

_LABELS: Final = ("q4", "emea", "crm", "quick-win", "apac", "forecast", "data-quality", "na")

# Summary templates and what fills them; expanded once into a shared pool of phrases.
_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "quarter": ("Q1", "Q2", "Q3", "Q4"),
    "region": ("EMEA", "NA", "APAC", "DACH", "LATAM"),
    "crm": ("Salesforce", "HubSpot"),
    "role": ("AE", "SDR", "CSM"),
    "tool": ("Outreach", "Gong", "ZoomInfo", "CPQ", "DocuSign"),
    "method": ("MEDDICC", "Challenger", "SPIN", "value-selling"),
    "metric": ("territory-coverage", "win-rate", "pipeline-velocity", "quota-attainment"),
    "rival": ("Acme", "Globex", "Initech"),
}
_TEMPLATES: Final = (
    "Migrate {quarter} opportunities to {crm}",
    "Build {metric} dashboard",
    "Run {method} training for {region} {role}s",
    "Review {region} pipeline coverage for {quarter}",
    "Clean up duplicate accounts in {crm}",
    "Sync {tool} activity with {crm}",
    "Define {region} territory carve-out",
    "Update commission plan for {role}s",
    "Draft {rival} battlecard for {region} {role}s",
    "Fix {metric} report for {region}",
    "Automate lead routing for {region} inbound",
    "Prepare {quarter} QBR deck for {region}",
    "Audit stale {quarter} opportunities",
    "Roll out {tool} to {region} {role}s",
    "Document deal-desk approval matrix for {region}",
    "Set up {crm} sandbox for {role} onboarding",
)

# Weighted draws, as (cumulative weights, values) for a bisect on one ``random()`` call.
_TYPE_WEIGHTS: Final = (("Task", 40), ("Story", 30), ("Bug", 10), ("Epic", 5), ("Sub-task", 15))
_PRIORITY_WEIGHTS: Final = (
    ("Medium", 50),
    ("High", 20),
    ("Low", 18),
    ("Lowest", 7),
    ("Highest", 5),
)
_POINTS: Final = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)


def _cumulative(pairs: tuple[tuple[str, int], ...]) -> tuple[list[float], list[str]]:
    total = sum(w for _, w in pairs)
    cum = list(itertools.accumulate(w / total for _, w in pairs))
    cum[-1] = 1.0
    return cum, [v for v, _ in pairs]


def _summary_pool() -> list[str]:
    pool: list[str] = []
    for template in _TEMPLATES:
        names = [n for n in _SLOTS if "{" + n + "}" in template]
        for combo in itertools.product(*(_SLOTS[n] for n in names)):
            pool.append(template.format(**dict(zip(names, combo, strict=True))))
    return pool


def _account_id(rng: Random) -> str:
    # Atlassian account ids of this era look like "712020:<uuid>".
    return f"712020:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def _display_name_from_email(email: str) -> str:
    local = email.split("@", 1)[0]
    parts = [p for p in local.replace("_", ".").replace("-", ".").split(".") if p]
    return " ".join(p.capitalize() for p in parts) or email


def _project_specs(count: int) -> list[tuple[str, str, str]]:
    specs = list((_BASE_PROJECTS + _EXTRA_PROJECTS)[:count])
    for n in range(len(specs), count):
        specs.append((f"POD{n + 1}", f"Sales Pod {n + 1}", "A regional sales pod's backlog."))
    return specs


def generate_dataset(
    *,
    issues: int,
    projects: int,
    seed: int,
    now: datetime,
    email: str,
    time_zone: str,
) -> Dataset:
    """Build a sales-ops workspace; the same arguments always give the same data."""
    if issues < 0 or projects < 1:
        raise ValueError("need issues >= 0 and projects >= 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = Random(seed)
    now_ms = (now - EPOCH) // timedelta(milliseconds=1)
    today = now.astimezone(UTC).date()

    myself_rng = Random(f"{seed}:{email}")
    myself = User(_account_id(myself_rng), email, _display_name_from_email(email), time_zone)
    people = rng.sample(_PEOPLE, rng.randint(6, 10))
    users = [
        User(
            _account_id(rng),
            f"{first.lower()}.{last.lower()}@example.com",
            f"{first} {last}",
            rng.choice(_ZONES),
        )
        for first, last in people
    ]

    project_list: list[Project] = []
    version_list: list[Version] = []
    versions_by_project: list[list[int]] = []
    for index, (key, name, description) in enumerate(_project_specs(projects)):
        project = Project(
            id=FIRST_PROJECT_ID + index,
            key=key,
            name=name,
            description=description,
            lead=rng.choice(users),
            simplified=rng.random() < 0.4,
        )
        project_list.append(project)
        ids: list[int] = []
        milestones = rng.sample(_MILESTONES, rng.randint(2, 4))
        # Release dates step forward from about three months ago, so early ones are released.
        release = today - timedelta(days=rng.randint(60, 100))
        for milestone, blurb in milestones:
            release += timedelta(days=rng.randint(25, 60))
            released = release < today and rng.random() < 0.9
            version = Version(
                id=FIRST_VERSION_ID + len(version_list),
                project_id=project.id,
                name=milestone,
                description=blurb,
                start_date=release - timedelta(days=rng.randint(30, 60)),
                release_date=release,
                released=released,
                archived=released and rng.random() < 0.2,
            )
            version_list.append(version)
            ids.append(version.id)
        versions_by_project.append(ids)

    dataset = Dataset(myself=myself, users=users, projects=project_list, versions=version_list)
    dataset.issues = _generate_issues(
        rng, issues, project_list, versions_by_project, users, myself, now_ms, today
    )
    return dataset


def _generate_issues(
    rng: Random,
    count: int,
    projects: list[Project],
    versions_by_project: list[list[int]],
    users: list[User],
    myself: User,
    now_ms: int,
    today: date,
) -> list[Issue]:
    # The hot loop: one pass, locals bound once, mostly single ``random()`` draws, and every
    # string either pooled or tiny (the key), so 100,000 issues take well under two seconds.
    rand = rng.random
    randint = rng.randint
    summaries = _summary_pool()
    n_summaries = len(summaries)
    type_cum, type_names = _cumulative(_TYPE_WEIGHTS)
    prio_cum, prio_names = _cumulative(_PRIORITY_WEIGHTS)
    project_weights = [0.5 + rand() for _ in projects]
    total_weight = sum(project_weights)
    project_cum = list(itertools.accumulate(w / total_weight for w in project_weights))
    project_cum[-1] = 1.0
    singles = [(label,) for label in _LABELS]
    pairs = [tuple(sorted(p)) for p in itertools.combinations(_LABELS, 2)]
    no_labels: tuple[str, ...] = ()
    new_statuses = ("To Do", "To Do", "Backlog")
    active_statuses = ("In Progress", "In Progress", "In Review", "Blocked")
    version_tuples = [[(v,) for v in ids] for ids in versions_by_project]
    # Per project, recent issues that can parent a sub-task, and recent epics.
    task_parents: list[list[int]] = [[] for _ in projects]
    epics: list[list[int]] = [[] for _ in projects]
    next_number = [1] * len(projects)
    n_users = len(users)

    span_ms = HISTORY_DAYS * 86_400_000
    start_ms = now_ms - span_ms
    step = span_ms / max(count, 1)
    issues: list[Issue] = []
    append = issues.append
    for i in range(count):
        p = bisect(project_cum, rand())
        project = projects[p]
        number = next_number[p]
        next_number[p] = number + 1

        issuetype = type_names[bisect(type_cum, rand())]
        parent_id: int | None = None
        if issuetype == "Sub-task":
            candidates = task_parents[p]
            if candidates:
                parent_id = candidates[int(rand() * len(candidates))]
            else:
                issuetype = "Task"
        elif issuetype != "Epic" and epics[p] and rand() < 0.4:
            parent_id = epics[p][int(rand() * len(epics[p]))]

        # Ids grow with creation time, as in Jira; a little jitter keeps times irregular.
        created = int(start_ms + i * step + rand() * step * 0.9)
        age = (now_ms - created) / span_ms
        updated = created if rand() < 0.2 else created + int((now_ms - created) * rand())

        roll = rand()
        resolution: str | None = None
        resolution_ms: int | None = None
        if roll < 0.1 + 0.65 * age:
            status = "Won't Do" if rand() < 0.12 else "Done"
            resolution = status
            resolution_ms = created + int((updated - created) * (0.7 + 0.3 * rand()))
        elif roll < 0.55 + 0.35 * age:
            status = active_statuses[int(rand() * 4)]
        else:
            status = new_statuses[int(rand() * 3)]

        r = rand()
        if r < 0.5:
            labels = no_labels
        elif r < 0.85:
            labels = singles[int(rand() * len(singles))]
        else:
            labels = pairs[int(rand() * len(pairs))]
        if status == "Blocked" and rand() < 0.6:
            labels = (*labels, "blocked")

        duedate: date | None = None
        if rand() < 0.55:
            duedate = today + timedelta(days=randint(-45, 75))

        points: float | None = None
        if issuetype in ("Story", "Task", "Bug") and rand() < 0.75:
            points = _POINTS[int(rand() * 6)]

        fix_versions: tuple[int, ...] = ()
        if issuetype != "Sub-task" and rand() < 0.8:
            options = version_tuples[p]
            fix_versions = options[int(rand() * len(options))]

        issue_id = FIRST_ISSUE_ID + i
        append(
            Issue(
                id=issue_id,
                key=f"{project.key}-{number}",
                number=number,
                project_id=project.id,
                issuetype=issuetype,
                summary=summaries[int(rand() * n_summaries)],
                status=status,
                priority=prio_names[bisect(prio_cum, rand())],
                assignee=users[int(rand() * n_users)] if rand() < 0.82 else None,
                reporter=myself if rand() < 0.15 else users[int(rand() * n_users)],
                labels=labels,
                duedate=duedate,
                created_ms=created,
                updated_ms=updated,
                resolution=resolution,
                resolution_ms=resolution_ms,
                fix_version_ids=fix_versions,
                parent_id=parent_id,
                story_points=points,
            )
        )
        # Keep parent candidates recent and few, so families cluster in time like real work.
        if issuetype == "Epic":
            _push_recent(epics[p], issue_id, 8)
        elif issuetype != "Sub-task":
            _push_recent(task_parents[p], issue_id, 30)

    for project, number in zip(projects, next_number, strict=True):
        project.next_number = number
    return issues


def _push_recent(recent: list[int], issue_id: int, keep: int) -> None:
    recent.append(issue_id)
    if len(recent) > keep:
        del recent[0]
