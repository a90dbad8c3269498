"""Deterministic, seeded data for the PingCode simulator: a quotation-tool release plan.

The enterprise plans the release of its quotation tool (报价工具) 2.0 in three projects: a
waterfall project with phases, milestone work items (里程碑) and versions; a scrum project
integrating the CPQ pricing engine; and a kanban board for discount approvals. Names mix
Chinese and English, as such teams write them.

Everything is drawn from one ``random.Random(seed)`` and the simulator's fixed "now", never
from the global generator or the wall clock. Records are slotted dataclasses of numbers, short
strings and shared references; JSON is rendered per page by the simulator, so 50,000 items
generate in well under a second.
"""

from __future__ import annotations

import itertools
from bisect import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
HISTORY_DAYS: Final = 120
DAY: Final = 86_400


def epoch_seconds(moment: datetime) -> int:
    """10-digit epoch seconds, PingCode's unit for every time (FACTS.md §5.1)."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int((moment - EPOCH).total_seconds())


def object_id(seconds: int, rng: Random) -> str:
    """A 24-hex id whose first 8 hex digits are the creation time, as PingCode's ids look."""
    return f"{seconds & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    #: Login name.
    name: str
    display_name: str
    email: str


@dataclass(frozen=True, slots=True)
class State:
    id: str
    name: str
    #: ``pending`` / ``in_progress`` / ``completed`` / ``closed`` (FACTS.md §5.6).
    type: str
    color: str


#: The workflow every simulated project uses, by name; Chinese and English names mixed.
STATES: Final[dict[str, State]] = {
    s.name: s
    for s in (
        State("63a0c0de0000000000000001", "新建", "pending", "#56ABFB"),
        State("63a0c0de0000000000000002", "Backlog", "pending", "#A5B1C2"),
        State("63a0c0de0000000000000003", "进行中", "in_progress", "#F6C659"),
        State("63a0c0de0000000000000004", "In Review", "in_progress", "#FFA415"),
        State("63a0c0de0000000000000005", "Blocked", "in_progress", "#FF7575"),
        State("63a0c0de0000000000000006", "已完成", "completed", "#73D897"),
        State("63a0c0de0000000000000007", "Done", "completed", "#2CCCDA"),
        State("63a0c0de0000000000000008", "已关闭", "closed", "#CACACA"),
        State("63a0c0de0000000000000009", "Won't Do", "closed", "#999999"),
    )
}

#: Priority id -> name.
PRIORITIES: Final[dict[str, str]] = {
    "63a0c0de00000000000000a1": "最高 Highest",
    "63a0c0de00000000000000a2": "高 High",
    "63a0c0de00000000000000a3": "中 Medium",
    "63a0c0de00000000000000a4": "低 Low",
}

#: System work-item types (FACTS.md §5.2), by id.
WORK_ITEM_TYPES: Final[dict[str, str]] = {
    "epic": "史诗 Epic",
    "feature": "特性 Feature",
    "story": "用户故事 Story",
    "requirement": "需求 Requirement",
    "task": "任务 Task",
    "bug": "缺陷 Bug",
    "issue": "事务 Issue",
    "phase": "阶段 Phase",
    "milestone": "里程碑 Milestone",
}

TAGS: Final[dict[str, str]] = {
    "63a0c0de00000000000000b1": "pricing",
    "63a0c0de00000000000000b2": "审批",
    "63a0c0de00000000000000b3": "erp",
    "63a0c0de00000000000000b4": "多币种",
    "63a0c0de00000000000000b5": "quick-win",
    "63a0c0de00000000000000b6": "blocked",
}


@dataclass(slots=True)
class Project:
    id: str
    identifier: str
    name: str
    #: ``scrum``, ``kanban`` or ``waterfall`` (FACTS.md §5.2).
    type: str
    description: str
    created_at: int
    updated_at: int
    is_archived: bool = False
    #: Set by the simulator's ``hide_project``: taken out of the app's data scope.
    hidden: bool = False
    next_number: int = 1


@dataclass(frozen=True, slots=True)
class Phase:
    id: str
    project_id: str
    name: str


@dataclass(slots=True)
class Version:
    id: str
    project_id: str
    name: str
    #: ``pending`` / ``in_progress`` / ``published`` (FACTS.md §5.2, §5.6).
    status: str
    description: str
    start_at: int
    end_at: int
    created_at: int
    updated_at: int


@dataclass(slots=True)
class WorkItem:
    """One work item; times are epoch seconds (FACTS.md §5.1)."""

    id: str
    project_id: str
    number: int
    identifier: str
    type: str
    title: str
    state: State
    priority: str | None
    assignee: User | None
    parent_id: str | None
    version_id: str | None
    phase_id: str | None
    start_at: int | None
    end_at: int | None
    completed_at: int | None
    created_at: int
    updated_at: int
    story_points: float | None
    tags: tuple[str, ...]
    is_archived: bool = False
    is_deleted: bool = False


@dataclass(slots=True)
class Dataset:
    users: list[User]
    projects: list[Project]
    phases: list[Phase]
    versions: list[Version]
    #: In id order, which is creation order (ids start with the creation time).
    items: list[WorkItem] = field(default_factory=list)


_PEOPLE: Final = (
    ("zhang.wei", "张伟", "Zhang Wei"),
    ("li.na", "李娜", "Li Na"),
    ("wang.fang", "王芳", "Wang Fang"),
    ("chen.jie", "陈杰", "Chen Jie"),
    ("liu.yang", "刘洋", "Liu Yang"),
    ("emma.tan", "Emma Tan", "Emma Tan"),
    ("zhao.lei", "赵磊", "Zhao Lei"),
    ("sun.li", "孙丽", "Sun Li"),
    ("david.ho", "David Ho", "David Ho"),
    ("zhou.min", "周敏", "Zhou Min"),
)

#: (identifier, name, type, description, weight of the items it gets)
_PROJECTS: Final = (
    (
        "QT",
        "报价工具 2.0 发布计划 Quotation Tool 2.0 Release",
        "waterfall",
        "Release plan of the quotation tool 2.0: phases, milestones and the go-live.",
        0.45,
    ),
    (
        "CPQ",
        "CPQ 价格引擎集成 Pricing Engine",
        "scrum",
        "Integrating the CPQ pricing engine with quotes, in two-week sprints.",
        0.35,
    ),
    (
        "DSC",
        "折扣审批 Discount Approvals",
        "kanban",
        "Deal-desk board for discount approvals above the sales reps' limits.",
        0.20,
    ),
)

_PHASES: Final = ("需求 Requirements", "设计 Design", "开发 Build", "UAT 验收", "上线 Go-Live")

#: (name, description, offset in days from now of its end_at, state name)
_MILESTONES: Final = (
    ("需求冻结 Requirements freeze", "Scope of 2.0 signed off by sales ops.", -70, "已完成"),
    ("设计评审通过 Design sign-off", "UX and pricing rules reviewed.", -40, "已完成"),
    ("UAT 完成 UAT complete", "Sales reps approve the new quote flow.", 12, "进行中"),
    ("Go-Live 上线", "Quotation tool 2.0 live for all regions.", 30, "新建"),
    ("Hypercare 结束 Hypercare exit", "Two weeks of support after go-live.", 45, "新建"),
)

#: Per project identifier: (name, description, start offset, end offset, status).
_VERSIONS: Final[dict[str, tuple[tuple[str, str, int, int, str], ...]]] = {
    "QT": (
        ("v2.0.0-beta", "内测版 Internal beta for the deal desk.", -60, -20, "published"),
        ("v2.0.0", "正式版 General availability.", -20, 30, "in_progress"),
        ("v2.1.0", "多币种报价 Multi-currency quotes.", 30, 75, "pending"),
    ),
    "CPQ": (
        ("2026.10 价格规则", "Pricing rules engine, first cut.", -55, -25, "published"),
        ("2026.11 Bundles", "Product bundles and guided selling.", -25, 5, "in_progress"),
        ("2026.12 ERP 同步", "Quote-to-order sync with the ERP.", 5, 35, "pending"),
    ),
    "DSC": (
        ("审批流 v1 Approval flow", "First automated approval chain.", -30, 20, "in_progress"),
    ),
}

_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "region": ("华东", "华南", "EMEA", "APAC", "NA"),
    "currency": ("CNY", "USD", "EUR", "SGD"),
    "product": ("SaaS 年度订阅", "Hardware bundle", "实施服务", "Support plan"),
    "crm": ("Salesforce", "纷享销客", "HubSpot"),
    "role": ("销售经理", "Deal desk", "财务 Finance", "VP Sales"),
    "pct": ("10", "15", "20", "30"),
}
_TEMPLATES: Final = (
    "报价单 PDF 模板支持 {region}",
    "Approve discounts above {pct}% via {role}",
    "同步 {crm} 报价到 ERP",
    "Quote line-item bundling for {product}",
    "{region} 税率计算修复",
    "多币种报价 ({currency})",
    "Fix rounding in {currency} quotes",
    "报价审批流: {role} 节点",
    "Guided selling wizard for {product}",
    "{product} 价格表导入",
    "Renewal quote auto-generation for {product}",
    "{region} 报价有效期规则",
)

# Weighted draws, (value, weight), per project type.
_TYPES: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    "waterfall": (("task", 55), ("requirement", 20), ("bug", 15), ("issue", 10)),
    "scrum": (("story", 40), ("task", 30), ("bug", 15), ("epic", 5), ("feature", 10)),
    "kanban": (("task", 60), ("issue", 30), ("bug", 10)),
}
_POINTS: Final = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)


def _cumulative(pairs: tuple[tuple[str, int], ...]) -> tuple[list[float], list[str]]:
    total = sum(w for _, w in pairs)
    cum = list(itertools.accumulate(w / total for _, w in pairs))
    cum[-1] = 1.0
    return cum, [v for v, _ in pairs]


def title_pool() -> list[str]:
    pool: list[str] = []
    for template in _TEMPLATES:
        names = [n for n in _SLOTS if "{" + n + "}" in template]
        for combo in itertools.product(*(_SLOTS[n] for n in names)):
            pool.append(template.format(**dict(zip(names, combo, strict=True))))
    return pool


def generate_dataset(*, items: int, seed: int, now: datetime) -> Dataset:
    """The release plan with ``items`` ordinary work items (milestone items come on top)."""
    if items < 0:
        raise ValueError("need items >= 0")
    rng = Random(seed)
    now_s = epoch_seconds(now)
    start_s = now_s - HISTORY_DAYS * DAY

    users = [
        User(object_id(start_s - 400 * DAY, rng), login, display, f"{login}@quotes.example.com")
        for login, display, _english in _PEOPLE
    ]
    projects: list[Project] = []
    phases: list[Phase] = []
    versions: list[Version] = []
    for identifier, name, kind, description, _weight in _PROJECTS:
        created = start_s - rng.randint(5, 30) * DAY
        project = Project(
            id=object_id(created, rng),
            identifier=identifier,
            name=name,
            type=kind,
            description=description,
            created_at=created,
            updated_at=created + rng.randint(1, 30) * DAY,
        )
        projects.append(project)
        if kind == "waterfall":
            phases.extend(Phase(object_id(created, rng), project.id, n) for n in _PHASES)
        for v_name, v_text, begin, end, status in _VERSIONS[identifier]:
            v_created = created + rng.randint(0, 5) * DAY
            versions.append(
                Version(
                    id=object_id(v_created, rng),
                    project_id=project.id,
                    name=v_name,
                    status=status,
                    description=v_text,
                    start_at=now_s + begin * DAY,
                    end_at=now_s + end * DAY,
                    created_at=v_created,
                    updated_at=min(now_s, now_s + end * DAY)
                    if status == "published"
                    else v_created,
                )
            )
    dataset = Dataset(users=users, projects=projects, phases=phases, versions=versions)
    milestones = _milestone_items(rng, projects[0], users, now_s, start_s)
    ordinary = _generate_items(rng, items, dataset, now_s, start_s)
    dataset.items = sorted([*milestones, *ordinary], key=lambda i: i.id)
    number_items(dataset)
    return dataset


def _milestone_items(
    rng: Random, project: Project, users: list[User], now_s: int, start_s: int
) -> list[WorkItem]:
    made: list[WorkItem] = []
    for index, (name, _text, due, state_name) in enumerate(_MILESTONES):
        created = start_s + index * 3600
        state = STATES[state_name]
        end = now_s + due * DAY
        done = state.type == "completed"
        made.append(
            WorkItem(
                id=object_id(created, rng),
                project_id=project.id,
                number=0,  # numbered below, after the ordinary items are dealt
                identifier="",
                type="milestone",
                title=name,
                state=state,
                priority=None,
                assignee=users[index % len(users)],
                parent_id=None,
                version_id=None,
                phase_id=None,
                start_at=None,
                end_at=end,
                completed_at=end if done else None,
                created_at=created,
                updated_at=end if done else created + DAY,
                story_points=None,
                tags=(),
            )
        )
    return made


def _generate_items(
    rng: Random, count: int, data: Dataset, now_s: int, start_s: int
) -> list[WorkItem]:
    # The hot loop: locals bound once, mostly single ``random()`` draws, pooled strings.
    rand = rng.random
    getrandbits = rng.getrandbits
    titles = title_pool()
    n_titles = len(titles)
    projects = data.projects
    weights = list(itertools.accumulate(w for *_rest, w in _PROJECTS))
    weights = [w / weights[-1] for w in weights]
    weights[-1] = 1.0
    types = [_cumulative(_TYPES[p.type]) for p in projects]
    versions = [[v for v in data.versions if v.project_id == p.id] for p in projects]
    phases = [[ph for ph in data.phases if ph.project_id == p.id] for p in projects]
    pending = (STATES["新建"], STATES["新建"], STATES["Backlog"])
    active = (STATES["进行中"], STATES["进行中"], STATES["In Review"], STATES["Blocked"])
    finished = (STATES["已完成"], STATES["Done"])
    closed = (STATES["已关闭"], STATES["Won't Do"])
    priorities = list(PRIORITIES)
    tag_ids = list(TAGS)
    users = data.users
    n_users = len(users)
    parents: list[list[str]] = [[] for _ in projects]
    span = HISTORY_DAYS * DAY
    step = span / max(count, 1)
    made: list[WorkItem] = []
    append = made.append
    for i in range(count):
        p = bisect(weights, rand())
        project = projects[p]
        cum, names = types[p]
        kind = names[bisect(cum, rand())]
        created = int(start_s + i * step + rand() * step * 0.9)
        age = (now_s - created) / span
        updated = created if rand() < 0.2 else created + int((now_s - created) * rand())
        roll = rand()
        completed_at: int | None = None
        if roll < 0.08 + 0.6 * age:
            state = closed[int(rand() * 2)] if rand() < 0.1 else finished[int(rand() * 2)]
            if state.type == "completed":
                completed_at = created + int((updated - created) * (0.7 + 0.3 * rand()))
        elif roll < 0.5 + 0.35 * age:
            state = active[int(rand() * 4)]
        else:
            state = pending[int(rand() * 3)]
        tags: tuple[str, ...] = ()
        if rand() < 0.35:
            tags = (tag_ids[int(rand() * 5)],)
        if state.name == "Blocked" and rand() < 0.6:
            tags = (*tags, tag_ids[5])
        start_at = end_at = None
        if rand() < 0.6:
            start_at = created - created % DAY
            end_at = start_at + int(1 + rand() * 20) * DAY
        points = None
        if kind in ("story", "task", "bug") and project.type == "scrum" and rand() < 0.75:
            points = _POINTS[int(rand() * 6)]
        version_id = None
        if versions[p] and rand() < 0.7:
            version_id = versions[p][int(rand() * len(versions[p]))].id
        phase_id = phases[p][int(rand() * len(phases[p]))].id if phases[p] else None
        parent_id = None
        if kind not in ("epic", "feature") and parents[p] and rand() < 0.3:
            parent_id = parents[p][int(rand() * len(parents[p]))]
        item_id = f"{created & 0xFFFFFFFF:08x}{getrandbits(64):016x}"
        append(
            WorkItem(
                id=item_id,
                project_id=project.id,
                number=0,
                identifier="",
                type=kind,
                title=titles[int(rand() * n_titles)],
                state=state,
                priority=priorities[int(rand() * 4)] if rand() < 0.8 else None,
                assignee=users[int(rand() * n_users)] if rand() < 0.85 else None,
                parent_id=parent_id,
                version_id=version_id,
                phase_id=phase_id,
                start_at=start_at,
                end_at=end_at,
                completed_at=completed_at,
                created_at=created,
                updated_at=updated,
                story_points=points,
                tags=tags,
                is_archived=state.type in ("completed", "closed") and rand() < 0.05,
            )
        )
        if kind in ("epic", "feature", "story", "requirement"):
            parents[p].append(item_id)
            if len(parents[p]) > 20:
                del parents[p][0]
    return made


def number_items(data: Dataset) -> None:
    """Give items their ``QT-12`` identifiers in creation (id) order, per project."""
    by_id = {p.id: p for p in data.projects}
    for item in data.items:
        project = by_id[item.project_id]
        item.number = project.next_number
        item.identifier = f"{project.identifier}-{project.next_number}"
        project.next_number += 1
