"""Deterministic, seeded data for the Worktile simulator: a sales-enablement training programme
as a Chinese sales-ops team keeps it (Chinese and English names mixed), with milestones.

Everything is drawn from one ``random.Random(seed)`` and the simulator's fixed "now", never the
global generator or the wall clock, so the same arguments always give the same tenant. Records
are slotted dataclasses of numbers, short strings and shared objects (members, states, pooled
titles); JSON is rendered per page by the simulator, so 50,000 tasks generate in well under two
seconds.

Shapes follow WORKTILE.md: 24-hex ObjectId ``_id`` (the first 8 hex digits are the creation
time, as in MongoDB), 32-hex member ``uid``, epoch-second times, ``{date, with_time}`` dates,
integer state types (1 not started, 2 in progress, 3 terminal: done, closed or scrapped).
"""

from __future__ import annotations

import itertools
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from random import Random
from typing import Final
from zoneinfo import ZoneInfo

#: Date-only values are midnight in the tenant's zone (an assumption; WORKTILE.md §5).
TENANT_ZONE: Final = ZoneInfo("Asia/Shanghai")
#: How far back the generated history reaches.
HISTORY_DAYS: Final = 120


@dataclass(frozen=True, slots=True)
class Member:
    uid: str
    name: str
    display_name: str


@dataclass(frozen=True, slots=True)
class State:
    id: str
    name: str
    #: 1 not started, 2 in progress, 3 terminal (WORKTILE.md §6).
    type: int


@dataclass(frozen=True, slots=True)
class TaskType:
    id: str
    name: str
    milestone: bool = False


@dataclass(frozen=True, slots=True)
class Named:
    """A priority or a tag: ``{_id, name, color}``."""

    id: str
    name: str
    color: str


@dataclass(slots=True)
class Project:
    id: str
    identifier: str
    name: str
    #: English-speaking pods name their states and task types in English.
    english: bool
    states: tuple[State, ...]
    task_types: tuple[TaskType, ...]
    created_at: int
    visibility: int = 1
    is_archived: bool = False
    #: Set by the simulator's ``hide_project``: the app loses sight of the project.
    hidden: bool = False
    next_number: int = 1

    @property
    def milestone_type(self) -> TaskType:
        return next(t for t in self.task_types if t.milestone)

    def state(self, name: str) -> State:
        for state in self.states:
            if state.name == name:
                return state
        known = [s.name for s in self.states]
        raise ValueError(f"project {self.identifier} has no state {name!r}; known: {known}")

    def task_type(self, name: str) -> TaskType:
        for task_type in self.task_types:
            if task_type.name == name:
                return task_type
        known = [t.name for t in self.task_types]
        raise ValueError(f"project {self.identifier} has no task type {name!r}; known: {known}")


@dataclass(slots=True)
class Task:
    id: str
    identifier: str
    project_id: str
    title: str
    task_type: TaskType
    state: State
    created_by: Member
    #: Epoch seconds; ``completed_at`` is 0 unless the state is terminal.
    created_at: int
    updated_at: int
    completed_at: int
    is_archived: bool
    assignee: Member | None
    participants: tuple[Member, ...]
    start: int | None
    due: int | None
    with_time: int
    priority: Named | None
    tags: tuple[Named, ...]
    parent_id: str | None
    desc: str = ""


@dataclass(slots=True)
class Dataset:
    members: list[Member]
    projects: list[Project]
    priorities: tuple[Named, ...]
    tags: tuple[Named, ...]
    #: Milestone tasks first, then work items, each in creation order.
    tasks: list[Task] = field(default_factory=list)


_PROJECTS: Final = (
    ("ENB", "2027 销售赋能培训计划", False),
    ("BOOT", "New Hire Sales Bootcamp · 新人训练营", True),
    ("CERT", "渠道伙伴认证 Partner Certification", False),
    ("PLAY", "Sales Playbook 销售打法手册", True),
    ("PROD", "产品知识学院 Product Academy", False),
    ("COACH", "一线经理辅导 Manager Coaching", True),
    ("KICK", "年度销售启动大会 Sales Kickoff", False),
    ("DEMO", "Demo Lab 演示环境", True),
)

_MEMBERS: Final = (
    ("zhangwei", "张伟"),
    ("lina", "李娜"),
    ("wangfang", "王芳"),
    ("chenjie", "陈杰"),
    ("liuyang", "刘洋"),
    ("zhaomin", "赵敏"),
    ("sunli", "孙丽"),
    ("xuqing", "徐晴"),
    ("emily.zhou", "Emily Zhou"),
    ("kevin.lin", "Kevin Lin"),
    ("grace.wu", "Grace Wu"),
    ("david.huang", "David Huang"),
)

_STATES_ZH: Final = (("未开始", 1), ("进行中", 2), ("待确认", 2), ("已完成", 3), ("关闭", 3))
_STATES_EN: Final = (("To Do", 1), ("In Progress", 2), ("In Review", 2), ("Done", 3), ("Closed", 3))
#: (work-item type names, milestone type name) per language.
_TYPES_ZH: Final = (("任务", "课程", "考核"), "里程碑")
_TYPES_EN: Final = (("Task", "Course", "Quiz"), "Milestone")

_PRIORITIES: Final = (("最高", "#FF5B57"), ("高", "#FF9F43"), ("中", "#FFC442"), ("低", "#2CCBB9"))
_TAGS: Final = ("新人", "认证", "线上", "线下", "华东", "华南", "Q1", "competitive", "playbook")

_MILESTONES_ZH: Final = (
    "里程碑：课程体系上线",  # noqa: RUF001 - Chinese punctuation
    "里程碑：首期学员结业",  # noqa: RUF001 - Chinese punctuation
    "全员产品认证完成",
    "年度销售启动大会",
    "讲师认证通过",
)
_MILESTONES_EN: Final = (
    "Curriculum live in LMS",
    "Cohort 1 graduates",
    "All reps certified",
    "Sales Kickoff",
    "Trainer certification done",
)

_SLOTS: Final[dict[str, tuple[str, ...]]] = {
    "product": ("CRM 云", "报价工具 CPQ", "销售看板 BI", "移动销售 App"),
    "region": ("华东", "华南", "华北", "西南", "海外"),
    "region_en": ("East China", "South China", "APAC", "EMEA"),
    "method": ("SPIN", "MEDDIC", "顾问式销售", "挑战者销售"),
    "rival": ("竞品A", "Acme", "Globex"),
    "quarter": ("Q1", "Q2", "Q3", "Q4"),
    "role": ("SDR", "AE", "客户成功经理"),
    "role_en": ("SDR", "AE", "CSM"),
    "topic": ("客户需求挖掘", "异议处理", "商务谈判", "合同与回款"),
    "topic_en": ("discovery calls", "objection handling", "negotiation", "pricing and discounts"),
}
_TEMPLATES_ZH: Final = (
    "录制{product}产品讲解视频",
    "编写{region}大区{method}话术手册",
    "{quarter}新人考核：{product}产品知识笔试",  # noqa: RUF001 - Chinese punctuation
    "整理{rival}竞品对比卡",
    "组织{region}销售{method}工作坊",
    "上线 LMS 课程：{topic}",  # noqa: RUF001 - Chinese punctuation
    "安排{role}角色扮演演练",
    "更新{product}报价培训材料",
    "汇总{quarter}培训满意度问卷",
)
_TEMPLATES_EN: Final = (
    "Run {method} workshop for {region_en} reps",
    "Record {product} demo walkthrough",
    "Build {rival} battlecard for {role_en}s",
    "Draft {quarter} onboarding checklist",
    "Certify {region_en} partners on {product}",
    "Publish LMS module: {topic_en}",
    "Schedule role-play sessions for {role_en}s",
    "Collect {quarter} training NPS survey",
)


def object_id(rng: Random, epoch: int) -> str:
    """A MongoDB ObjectId: 4 bytes of creation time, 8 random bytes, as 24 hex digits."""
    return f"{epoch & 0xFFFFFFFF:08x}{rng.getrandbits(64):016x}"


def day_epoch(day: date) -> int:
    """A date-only value: midnight of ``day`` in the tenant's zone, in epoch seconds."""
    return int(datetime.combine(day, time(), TENANT_ZONE).timestamp())


def _pool(templates: tuple[str, ...]) -> list[str]:
    pool: list[str] = []
    for template in templates:
        names = [n for n in _SLOTS if "{" + n + "}" in template]
        for combo in itertools.product(*(_SLOTS[n] for n in names)):
            pool.append(template.format(**dict(zip(names, combo, strict=True))))
    return pool


def _project_specs(count: int) -> list[tuple[str, str, bool]]:
    specs = list(_PROJECTS[:count])
    for n in range(len(specs), count):
        specs.append((f"POD{n + 1}", f"区域销售小组 {n + 1} · Sales Pod {n + 1}", n % 2 == 1))
    return specs


def generate_dataset(*, items: int, projects: int, seed: int, now: datetime) -> Dataset:
    """A training programme with ``items`` work items (milestones come on top)."""
    if items < 0 or projects < 1:
        raise ValueError("need items >= 0 and projects >= 1")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = Random(seed)
    now_s = int(now.timestamp())
    start_s = now_s - HISTORY_DAYS * 86_400
    today = now.astimezone(TENANT_ZONE).date()

    members = [
        Member(f"{rng.getrandbits(128):032x}", name, display)
        for name, display in rng.sample(_MEMBERS, rng.randint(8, 12))
    ]
    priorities = tuple(Named(object_id(rng, start_s), name, color) for name, color in _PRIORITIES)
    tags = tuple(Named(object_id(rng, start_s), name, "#6698FF") for name in _TAGS)
    language: dict[bool, tuple[tuple[State, ...], tuple[TaskType, ...]]] = {}
    for english, spec, (work_types, milestone) in (
        (False, _STATES_ZH, _TYPES_ZH),
        (True, _STATES_EN, _TYPES_EN),
    ):
        language[english] = (
            tuple(State(object_id(rng, start_s), n, t) for n, t in spec),
            (
                *(TaskType(object_id(rng, start_s), n) for n in work_types),
                TaskType(object_id(rng, start_s), milestone, milestone=True),
            ),
        )

    project_list: list[Project] = []
    tasks: list[Task] = []
    for index, (identifier, name, english) in enumerate(_project_specs(projects)):
        created = start_s - 86_400 * (30 - index)
        project_states, types = language[english]
        project = Project(
            id=object_id(rng, created),
            identifier=identifier,
            name=name,
            english=english,
            states=project_states,
            task_types=types,
            created_at=created,
        )
        project_list.append(project)
        tasks.extend(_milestones(rng, project, members, today, start_s, now_s))

    dataset = Dataset(members=members, projects=project_list, priorities=priorities, tags=tags)
    dataset.tasks = tasks + _work_items(rng, items, project_list, dataset, now_s, today)
    return dataset


def _milestones(
    rng: Random,
    project: Project,
    members: list[Member],
    today: date,
    start_s: int,
    now_s: int,
) -> list[Task]:
    names = _MILESTONES_EN if project.english else _MILESTONES_ZH
    done = next(s for s in project.states if s.type == 3)
    todo = next(s for s in project.states if s.type == 1)
    due = today - timedelta(days=rng.randint(60, 100))
    out: list[Task] = []
    for name in rng.sample(names, rng.randint(2, 4)):
        due += timedelta(days=rng.randint(25, 55))
        created = start_s + rng.randint(0, 86_400 * 10)
        reached = due < today and rng.random() < 0.9
        due_s = day_epoch(due)
        completed = min(due_s, now_s) - rng.randint(0, 86_400 * 3) if reached else 0
        out.append(
            Task(
                id=object_id(rng, created),
                identifier=f"{project.identifier}-{project.next_number}",
                project_id=project.id,
                title=name,
                task_type=project.milestone_type,
                state=done if reached else todo,
                created_by=members[0],
                created_at=created,
                updated_at=max(created, completed),
                completed_at=completed,
                is_archived=False,
                assignee=rng.choice(members),
                participants=(),
                start=None,
                due=due_s,
                with_time=0,
                priority=None,
                tags=(),
                parent_id=None,
            )
        )
        project.next_number += 1
    return out


def _work_items(
    rng: Random,
    count: int,
    projects: list[Project],
    data: Dataset,
    now_s: int,
    today: date,
) -> list[Task]:
    # The hot loop: locals bound once, mostly single ``random()`` draws, every string pooled
    # except the identifier, so 50,000 tasks take well under two seconds.
    rand = rng.random
    getrandbits = rng.getrandbits
    zh_titles, en_titles = _pool(_TEMPLATES_ZH), _pool(_TEMPLATES_EN)
    members = data.members
    n_members = len(members)
    priorities, tags = data.priorities, data.tags
    singles = [(t,) for t in tags]
    pairs = list(itertools.combinations(tags, 2))
    weights = [0.5 + rand() for _ in projects]
    total = sum(weights)
    project_cum = list(itertools.accumulate(w / total for w in weights))
    project_cum[-1] = 1.0
    # Per project: (todo states, active states, done state, closed state, work types).
    shapes = []
    for project in projects:
        states = project.states
        shapes.append(
            (
                [s for s in states if s.type == 1],
                [s for s in states if s.type == 2],
                states[3],
                states[4],
                [t for t in project.task_types if not t.milestone],
            )
        )
    recent: list[list[str]] = [[] for _ in projects]
    days = [day_epoch(today + timedelta(days=d)) for d in range(-45, 76)]
    span = HISTORY_DAYS * 86_400
    start_s = now_s - span
    step = span / max(count, 1)
    out: list[Task] = []
    append = out.append
    for i in range(count):
        p = bisect(project_cum, rand())
        project = projects[p]
        todo, active, done, closed, types = shapes[p]
        created = int(start_s + i * step + rand() * step * 0.9)
        age = (now_s - created) / span
        updated = created if rand() < 0.2 else created + int((now_s - created) * rand())
        roll = rand()
        completed = 0
        if roll < 0.1 + 0.6 * age:
            state = closed if rand() < 0.1 else done
            completed = created + int((updated - created) * (0.7 + 0.3 * rand()))
        elif roll < 0.55 + 0.3 * age:
            state = active[int(rand() * len(active))]
        else:
            state = todo[0]
        archived = completed != 0 and now_s - updated > 30 * 86_400 and rand() < 0.15
        titles = en_titles if (rand() < 0.7) == project.english else zh_titles
        r = rand()
        chosen_tags = (
            ()
            if r < 0.5
            else singles[int(rand() * 9)]
            if r < 0.85
            else pairs[int(rand() * len(pairs))]
        )
        due: int | None = None
        with_time = 0
        if rand() < 0.6:
            due = days[int(rand() * len(days))]
            if rand() < 0.1:
                with_time = 1
                due += 18 * 3600
        start = due - 86_400 * (1 + int(rand() * 14)) if due is not None and rand() < 0.4 else None
        parent = None
        if recent[p] and rand() < 0.12:
            parent = recent[p][int(rand() * len(recent[p]))]
        task_id = f"{created & 0xFFFFFFFF:08x}{getrandbits(64):016x}"
        append(
            Task(
                id=task_id,
                identifier=f"{project.identifier}-{project.next_number}",
                project_id=project.id,
                title=titles[int(rand() * len(titles))],
                task_type=types[int(rand() * len(types))],
                state=state,
                created_by=members[int(rand() * n_members)],
                created_at=created,
                updated_at=updated,
                completed_at=completed,
                is_archived=archived,
                assignee=members[int(rand() * n_members)] if rand() < 0.85 else None,
                participants=(members[int(rand() * n_members)],) if rand() < 0.3 else (),
                start=start,
                due=due,
                with_time=with_time,
                priority=priorities[int(rand() * 4)] if rand() < 0.7 else None,
                tags=chosen_tags,
                parent_id=parent,
            )
        )
        project.next_number += 1
        if parent is None:
            recent[p].append(task_id)
            if len(recent[p]) > 20:
                del recent[p][0]
    return out
