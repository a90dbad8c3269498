"""Deterministic, seeded sales-operations data for the Trello simulator.

Everything is drawn from one ``random.Random(seed)`` and the simulator's fixed "now", never from
the global generator or the wall clock, so the same arguments always give the same boards.

Three boards (a campaign launch, partner enablement, the deal desk), each with the lists
To Do / Doing / Review / Done, labels including "Milestone" and "blocked", and a few milestone
cards (label "Milestone") besides the ordinary cards. The board's history is an actions feed:
a ``createCard`` for every card and, for cards that moved on or were archived since, an
``updateCard``. Records are slotted dataclasses of numbers, short strings and shared tuples;
no JSON is built here, so 50,000 cards take well under two seconds.

Ids are Mongo ObjectIds as Trello's are (24 hex digits): the creation time in seconds, a
fixed "machine" part and a counter that only grows, so ids sort by time and new ones always
sort after old ones.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any, Final, TypeVar

T = TypeVar("T")

LISTS: Final = ("To Do", "Doing", "Review", "Done")
#: How cards spread over the lists (weights), in ``LISTS`` order.
LIST_WEIGHTS: Final = (35, 20, 10, 35)

MILESTONE_LABEL: Final = "Milestone"
BLOCKED_LABEL: Final = "blocked"

_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, slots=True)
class BoardSpec:
    name: str
    desc: str
    verbs: tuple[str, ...]
    things: tuple[str, ...]
    suffixes: tuple[str, ...]
    topics: tuple[tuple[str, str], ...]
    #: (name, list, due in days from now, due complete)
    milestones: tuple[tuple[str, str, int, bool], ...]


BOARD_SPECS: Final = (
    BoardSpec(
        name="Q1 Campaign Launch",
        desc="Everything that has to ship for the Q1 demand-generation campaign.",
        verbs=("Draft", "Review", "Localize", "Schedule", "A/B test", "Approve", "Launch"),
        things=(
            "nurture email #1",
            "nurture email #2",
            "landing page hero copy",
            "LinkedIn ad set",
            "webinar invite",
            "press release",
            "retargeting audience",
            "launch blog post",
            "sales one-pager",
            "campaign UTM plan",
        ),
        suffixes=("", " (EMEA)", " (NA)", " (APAC)", " for SMB", " for Enterprise"),
        topics=(("Email", "blue"), ("Paid Social", "green"), ("Webinar", "yellow")),
        milestones=(
            ("Creative freeze", "Done", -20, True),
            ("Campaign launch day", "Doing", 6, False),
            ("Post-launch pipeline review", "To Do", 40, False),
        ),
    ),
    BoardSpec(
        name="Partner Enablement",
        desc="Getting resellers and referral partners ready to sell the new packages.",
        verbs=("Record", "Update", "Translate", "Publish", "Run", "Certify", "Survey"),
        things=(
            "partner pitch deck",
            "deal registration guide",
            "pricing cheat sheet",
            "certification quiz",
            "partner portal FAQ",
            "co-marketing kit",
            "objection handling video",
            "onboarding checklist",
        ),
        suffixes=("", " for Tier 1 partners", " for referral partners", " (DACH)", " (Nordics)"),
        topics=(("Partner", "orange"), ("Training", "pink")),
        milestones=(
            ("Partner portal live", "Done", -35, True),
            ("Certification wave 1", "Review", 12, False),
            ("Partner summit", "To Do", 58, False),
        ),
    ),
    BoardSpec(
        name="Deal Desk & Quotes",
        desc="Quote-to-cash clean-up: approvals, templates and discount guardrails.",
        verbs=("Fix", "Audit", "Approve", "Simplify", "Document", "Automate", "Escalate"),
        things=(
            "quote template v2",
            "discount approval matrix",
            "multi-year pricing rule",
            "renewal uplift clause",
            "CPQ bundle for Pro plan",
            "non-standard terms request",
            "quarter-end quote backlog",
            "order form e-signature flow",
        ),
        suffixes=("", " (enterprise deals)", " (mid-market)", " for renewals", " (EUR)"),
        topics=(("Pricing", "sky"), ("Legal", "black")),
        milestones=(
            ("CPQ pricing approved", "Done", -10, True),
            ("Quote template v2 live", "Doing", 3, False),
            ("Quarter-end close", "To Do", 42, False),
        ),
    ),
)

#: (full name, username): the people on the boards besides the token's own member.
PEOPLE: Final = (
    ("Priya Raman", "priyaraman"),
    ("Jonas Weber", "jonasweber"),
    ("Camille Laurent", "camillelaurent"),
    ("Diego Alvarez", "diegoalvarez"),
    ("Aiko Tanaka", "aikotanaka"),
    ("Marcus Bell", "marcusbell"),
    ("Sofia Rossi", "sofiarossi"),
    ("Noah Fischer", "noahfischer"),
)


@dataclass(slots=True)
class Member:
    id: str
    username: str
    full_name: str
    #: Only the token's own member has one visible (``/members/me``).
    email: str | None = None


@dataclass(slots=True)
class Board:
    id: str
    name: str
    desc: str
    short_link: str
    org_id: str
    member_ids: tuple[str, ...]
    created: datetime
    last_activity: datetime
    closed: bool = False
    #: Status the token gets for this board: None when readable (401/403/404 otherwise).
    hidden_status: int | None = None
    next_short: int = 1


@dataclass(slots=True)
class TList:
    id: str
    board_id: str
    name: str
    pos: float
    closed: bool = False


@dataclass(slots=True)
class Label:
    id: str
    board_id: str
    name: str
    color: str | None


@dataclass(slots=True)
class Card:
    id: str
    board_id: str
    list_id: str
    name: str
    id_short: int
    short_link: str
    pos: float
    created: datetime
    last_activity: datetime
    due: datetime | None = None
    due_complete: bool = False
    closed: bool = False
    label_ids: tuple[str, ...] = ()
    member_ids: tuple[str, ...] = ()
    check_items: int = 0
    check_items_checked: int = 0
    desc: str = ""


@dataclass(slots=True)
class Action:
    """One entry of a board's actions feed.

    History is stored compactly (``card_id``/``list_id``/``list_before_id`` and the card's name
    then) and rendered on demand; mutations store their full ``data`` as Trello would send it.
    """

    id: str
    board_id: str
    type: str
    date: datetime
    creator_id: str
    card_id: str | None = None
    card_name: str | None = None
    list_id: str | None = None
    list_before_id: str | None = None
    #: History ``updateCard``: the field that changed (``idList`` or ``closed``).
    change: str | None = None
    data: dict[str, Any] | None = None


@dataclass(slots=True)
class Dataset:
    me: Member
    members: dict[str, Member]
    boards: dict[str, Board]
    lists: dict[str, TList]
    labels: dict[str, Label]
    cards: dict[str, Card]
    actions: list[Action]
    ids: ObjectIds


@dataclass(slots=True)
class ObjectIds:
    """Mongo-style ObjectIds: 4 bytes of seconds, 5 fixed bytes, a 3-byte growing counter."""

    machine: int
    counter: int = 0
    last: str = field(default="0" * 24)

    def at(self, moment: datetime) -> str:
        """An id created at ``moment`` (its first 8 digits are that time)."""
        self.counter = (self.counter + 1) % (1 << 24)
        return f"{int(moment.timestamp()):08x}{self.machine:010x}{self.counter:06x}"

    def after_all(self, moment: datetime) -> str:
        """An id created at ``moment`` that sorts after every id from this method so far (a
        clock set back must not make a new action look older than the feed's newest)."""
        value = self.at(moment)
        if value <= self.last:
            value = f"{int(self.last, 16) + 1:024x}"
        self.last = value
        return value


def short_link(rng: Random, taken: set[str]) -> str:
    while True:
        value = "".join([_ALPHABET[b % 62] for b in rng.randbytes(8)])
        if value not in taken:
            taken.add(value)
            return value


def generate_dataset(*, cards: int, seed: int, now: datetime, email: str) -> Dataset:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    rng = Random(seed)
    ids = ObjectIds(machine=rng.getrandbits(40))
    links: set[str] = set()
    origin = now - timedelta(days=400)

    me = Member(ids.at(origin), "salesopsdemo", "Sales Ops Demo", email=email)
    members = {me.id: me}
    for full_name, username in PEOPLE:
        person = Member(ids.at(origin), username, full_name)
        members[person.id] = person
    people = [m.id for m in members.values() if m is not me]
    org_id = ids.at(origin)

    boards: dict[str, Board] = {}
    lists: dict[str, TList] = {}
    labels: dict[str, Label] = {}
    board_lists: list[list[TList]] = []
    board_labels: list[dict[str, Label]] = []
    for number, spec in enumerate(BOARD_SPECS):
        created = origin + timedelta(days=30 * number)
        crew = (me.id, *rng.sample(people, 5))
        board = Board(
            ids.at(created),
            spec.name,
            spec.desc,
            short_link(rng, links),
            org_id,
            crew,
            created,
            created,
        )
        boards[board.id] = board
        own_lists = [
            TList(ids.at(created), board.id, name, 16384.0 * (i + 1))
            for i, name in enumerate(LISTS)
        ]
        lists.update((x.id, x) for x in own_lists)
        board_lists.append(own_lists)
        own_labels = {
            name: Label(ids.at(created), board.id, name, color)
            for name, color in (
                (MILESTONE_LABEL, "purple"),
                (BLOCKED_LABEL, "red"),
                *spec.topics,
                ("", "lime"),  # a colour-only label, as boards often have
            )
        }
        labels.update((x.id, x) for x in own_labels.values())
        board_labels.append(own_labels)

    cards_by_board = _spread(cards, len(BOARD_SPECS))
    all_cards: dict[str, Card] = {}
    actions: list[Action] = []
    span = (now - origin).total_seconds()
    cumulative = _cumulative(LIST_WEIGHTS)
    for number, spec in enumerate(BOARD_SPECS):
        board = list(boards.values())[number]
        own_lists = board_lists[number]
        own_labels = board_labels[number]
        titles = [f"{v} {t}{s}" for v in spec.verbs for t in spec.things for s in spec.suffixes]
        topic_ids = [own_labels[name].id for name, _ in spec.topics]
        blocked = own_labels[BLOCKED_LABEL].id
        team = [m for m in board.member_ids if m != me.id] + [me.id]
        # Creation times first, sorted, so idShort and ids follow creation order.
        board_start = (board.created - origin).total_seconds()
        times = sorted(
            board_start + rng.random() * (span - board_start - 3600)
            for _ in range(cards_by_board[number])
        )
        first_card = len(all_cards)
        for offset in times:
            created = origin + timedelta(seconds=offset)
            column = bisect(cumulative, rng.random() * cumulative[-1])
            target = own_lists[column]
            done = target.name == "Done"
            last = created + timedelta(seconds=rng.random() * (now - created).total_seconds())
            due = None
            if rng.random() < 0.55:
                due = (created + timedelta(days=rng.randint(3, 45))).replace(
                    hour=17, minute=0, second=0, microsecond=0
                )
            chosen = rng.sample(topic_ids, k=min(len(topic_ids), _pick(rng, (0, 1, 1, 2))))
            if not done and rng.random() < 0.06:
                chosen.append(blocked)
            assigned = rng.sample(team, k=_pick(rng, (0, 1, 1, 1, 2)))
            checks = rng.randint(2, 8) if rng.random() < 0.4 else 0
            card = Card(
                id=ids.at(created),
                board_id=board.id,
                list_id=target.id,
                name=_pick(rng, titles),
                id_short=board.next_short,
                short_link=short_link(rng, links),
                pos=16384.0 * board.next_short,
                created=created,
                last_activity=last,
                due=due,
                due_complete=done and due is not None and rng.random() < 0.8,
                closed=rng.random() < (0.06 if done else 0.02),
                label_ids=tuple(chosen),
                member_ids=tuple(assigned),
                check_items=checks,
                check_items_checked=checks if done else rng.randint(0, checks),
            )
            board.next_short += 1
            all_cards[card.id] = card
            history = last > created and (card.closed or column > 0)
            change = "closed" if card.closed else "idList"
            first_list = own_lists[0] if history and change == "idList" else target
            actions.append(
                Action(
                    "",
                    board.id,
                    "createCard",
                    created,
                    _pick(rng, team),
                    card.id,
                    card.name,
                    first_list.id,
                )
            )
            if history:
                actions.append(
                    Action(
                        "",
                        board.id,
                        "updateCard",
                        last,
                        _pick(rng, team),
                        card.id,
                        card.name,
                        target.id,
                        first_list.id,
                        change,
                    )
                )
        own_cards = list(all_cards.values())[first_card:]
        for name, list_name, days, complete in spec.milestones:
            created = board.created + timedelta(days=1)
            target = next(x for x in own_lists if x.name == list_name)
            due = (now + timedelta(days=days)).replace(hour=17, minute=0, second=0, microsecond=0)
            card = Card(
                id=ids.at(created),
                board_id=board.id,
                list_id=target.id,
                name=name,
                id_short=board.next_short,
                short_link=short_link(rng, links),
                pos=1.0 * board.next_short,
                created=created,
                last_activity=created,
                due=due,
                due_complete=complete,
                label_ids=(own_labels[MILESTONE_LABEL].id,),
                member_ids=(me.id,),
            )
            board.next_short += 1
            all_cards[card.id] = card
            actions.append(
                Action("", board.id, "createCard", created, me.id, card.id, name, target.id)
            )
        board.last_activity = max([board.created, *(c.last_activity for c in own_cards)])
    # Ids in date order: a later action always has a larger id, as in Trello.
    actions.sort(key=lambda a: a.date)
    for action in actions:
        action.id = ids.after_all(action.date)
    return Dataset(me, members, boards, lists, labels, all_cards, actions, ids)


def _pick(rng: Random, values: Sequence[T]) -> T:
    """``rng.choice`` without its generality: a third of the cost, for 50,000 cards."""
    return values[int(rng.random() * len(values))]


def _spread(total: int, parts: int) -> list[int]:
    """Split ``total`` over boards 45/30/25-ish (the campaign board is the busiest)."""
    weights = [45, 30, 25][:parts] or [1]
    shares = [total * w // sum(weights) for w in weights]
    shares[0] += total - sum(shares)
    return shares


def _cumulative(weights: tuple[int, ...]) -> list[int]:
    running, out = 0, []
    for weight in weights:
        running += weight
        out.append(running)
    return out
