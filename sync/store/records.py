"""Writing vendor records: bulk upserts keyed on ``(connection, vendor id)``, change history,
and lifecycle (deleted vs. access lost).

Every write function takes one page and runs inside the caller's transaction, so a page's
rows and its cursor commit together. Rows whose content digest did not change are not written
at all: replaying a sync leaves the database byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy import Dialect, Table, and_, bindparam, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sync.model import Milestone, Person, Project, WorkItem
from sync.store import tables

T = TypeVar("T")


@dataclass(slots=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def upserted(self) -> int:
        return self.inserted + self.updated

    def add(self, other: WriteCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is writing: the connection, the run (for history), and the run's clock reading."""

    connection_id: int
    tool: str
    now: datetime
    sync_run_id: int | None = None
    #: Identifies the mapping that turned raw JSON into the records written (vocabulary and
    #: code version). Mapping is pure, so raw + fingerprint decide the record: the content
    #: digest needs nothing else, and a vocabulary change rewrites every row once.
    fingerprint: str = ""
    #: Row ids by (table, vendor id), shared by the pages of one run: rows are never deleted,
    #: so an id once seen stays right.
    ids: dict[tuple[str, str], int] = field(default_factory=dict, compare=False)
    #: Identities already resolved in this run: vendor id -> (person id, name, e-mail).
    people: dict[str, tuple[int, str | None, str | None]] = field(
        default_factory=dict, compare=False
    )


def _table(model: type[tables.Base]) -> Table:
    return cast(Table, model.__table__)


def raw_json(raw: dict[str, Any]) -> str:
    return orjson.dumps(raw).decode()


def digest(raw_text: str, fingerprint: str) -> str:
    return hashlib.blake2b(
        raw_text.encode() + b"\x00" + fingerprint.encode(), digest_size=16
    ).hexdigest()


#: Never overwritten by an upsert: identity, and when we first saw the record.
_KEEP_ON_CONFLICT = frozenset({"id", "connection_id", "vendor_id", "first_seen_at"})


def _upsert_statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (connection_id, vendor_id) DO UPDATE`` of ``columns``
    (compiled once per shape by :func:`_compiled_insert`)."""
    insert_ = _insert_for(dialect, table)
    changing = {c: insert_.excluded[c] for c in columns if c not in _KEEP_ON_CONFLICT}
    return insert_.on_conflict_do_update(
        index_elements=["connection_id", "vendor_id"], set_=changing
    )


def _insert_for(dialect: str, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (both our backends do)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are not implemented for {dialect}")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled to the driver's SQL once, with each parameter's bind processor."""

    sql: str
    #: Per parameter, in the driver's order: its column and the type's bind processor.
    parameters: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    positional: bool

    def values(self, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Rows as the driver takes them: tuples (qmark) or dicts (pyformat)."""
        if self.positional:
            return [
                tuple(
                    row[name] if convert is None else convert(row[name])
                    for name, convert in self.parameters
                )
                for row in rows
            ]
        return [
            {
                name: row[name] if convert is None else convert(row[name])
                for name, convert in self.parameters
            }
            for row in rows
        ]


_COMPILED: dict[tuple[str, str, tuple[str, ...], bool], _Compiled] = {}


def _compiled_insert(
    dialect: Dialect, table: Table, columns: tuple[str, ...], *, upsert: bool
) -> _Compiled:
    """Bulk writes bypass SQLAlchemy's generic executemany: per row it builds a parameter
    dict and walks every bind, which cost more than SQLite's own work for a page of work
    items. The statement is compiled by SQLAlchemy all the same, once per shape."""
    key = (dialect.name, table.name, columns, upsert)
    compiled = _COMPILED.get(key)
    if compiled is None:
        statement = (
            _upsert_statement(dialect.name, table, columns) if upsert else insert(table)
        ).compile(dialect=dialect, column_keys=list(columns))
        names = statement.positiontup if dialect.positional else list(statement.binds)
        if names is None or set(names) != set(columns):  # pragma: no cover - a new SQLAlchemy
            raise NotImplementedError(f"unexpected parameters in the {table.name} insert")
        compiled = _Compiled(
            sql=statement.string,
            parameters=tuple(
                (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
                for name in names
            ),
            positional=dialect.positional,
        )
        _COMPILED[key] = compiled
    return compiled


def _bulk_insert(
    session: Session, table: Table, rows: list[dict[str, Any]], *, upsert: bool = False
) -> None:
    if not rows:
        return
    connection = session.connection()
    plan = _compiled_insert(connection.dialect, table, tuple(rows[0]), upsert=upsert)
    connection.exec_driver_sql(plan.sql, plan.values(rows))


def _upsert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    _bulk_insert(session, table, rows, upsert=True)


_LOOKUPS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _lookup(table: Table, columns: tuple[str, ...]) -> Any:
    """``SELECT columns WHERE connection_id = :connection_id AND vendor_id IN :ids``, built
    once per shape: building it per page cost more than running it."""
    key = (table.name, columns)
    statement = _LOOKUPS.get(key)
    if statement is None:
        statement = select(*(table.c[name] for name in columns)).where(
            table.c.connection_id == bindparam("connection_id"),
            table.c.vendor_id.in_(bindparam("ids", expanding=True)),
        )
        _LOOKUPS[key] = statement
    return statement


def _existing(
    session: Session, table: Table, connection_id: int, vendor_ids: Sequence[str], *extra: str
) -> dict[str, Any]:
    statement = _lookup(
        table, ("vendor_id", "id", "content_hash", "deleted_at", "access_lost_at", *extra)
    )
    connection = session.connection()
    found: dict[str, Any] = {}
    for chunk in _chunks(vendor_ids, 500):
        for row in connection.execute(
            statement, {"connection_id": connection_id, "ids": list(chunk)}
        ):
            found[row.vendor_id] = row
    return found


def _chunks(values: Sequence[T], size: int) -> Iterable[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _id_map(
    session: Session, table: Table, scope: Scope, vendor_ids: Iterable[str | None]
) -> dict[str, int]:
    wanted = {v for v in vendor_ids if v is not None}
    found = {v: scope.ids[(table.name, v)] for v in wanted if (table.name, v) in scope.ids}
    missing = sorted(wanted - found.keys())
    statement = _lookup(table, ("vendor_id", "id"))
    connection = session.connection()
    for chunk in _chunks(missing, 500):
        for vendor_id, row_id in connection.execute(
            statement, {"connection_id": scope.connection_id, "ids": list(chunk)}
        ):
            found[vendor_id] = row_id
            scope.ids[(table.name, vendor_id)] = row_id
    return found


def _split(
    existing: dict[str, Any], vendor_id: str, content_hash: str, counts: WriteCounts
) -> bool:
    """Whether a row must be written; counts it either way."""
    old = existing.get(vendor_id)
    if old is None:
        counts.inserted += 1
        return True
    if old.content_hash == content_hash and old.deleted_at is None and old.access_lost_at is None:
        counts.unchanged += 1
        return False
    counts.updated += 1
    return True


# -- projects and milestones ---------------------------------------------------------------
def upsert_projects(
    session: Session, scope: Scope, records: Sequence[tuple[Project, dict[str, Any]]]
) -> WriteCounts:
    table = _table(tables.Project)
    counts = WriteCounts()
    existing = _existing(session, table, scope.connection_id, [r.vendor_id for r, _ in records])
    rows = []
    for record, raw in records:
        text = raw_json(raw)
        content_hash = digest(text, scope.fingerprint)
        if not _split(existing, record.vendor_id, content_hash, counts):
            continue
        rows.append(
            {
                "connection_id": scope.connection_id,
                "vendor_id": record.vendor_id,
                "key": record.key,
                "name": record.name,
                "url": record.url,
                "archived": record.archived,
                "raw": text,
                "content_hash": content_hash,
                "deleted_at": None,
                "access_lost_at": None,
                "first_seen_at": scope.now,
                "recorded_at": scope.now,
            }
        )
    _upsert(session, table, rows)
    return counts


def upsert_milestones(
    session: Session, scope: Scope, records: Sequence[tuple[Milestone, dict[str, Any]]]
) -> WriteCounts:
    table = _table(tables.Milestone)
    counts = WriteCounts()
    existing = _existing(session, table, scope.connection_id, [r.vendor_id for r, _ in records])
    projects = _id_map(
        session,
        _table(tables.Project),
        scope,
        (r.project_vendor_id for r, _ in records),
    )
    rows = []
    for record, raw in records:
        text = raw_json(raw)
        content_hash = digest(text, scope.fingerprint)
        if not _split(existing, record.vendor_id, content_hash, counts):
            continue
        rows.append(
            {
                "connection_id": scope.connection_id,
                "vendor_id": record.vendor_id,
                "project_id": projects.get(record.project_vendor_id or ""),
                "name": record.name,
                "description": record.description,
                "start_date": record.start_date,
                "due_date": record.due_date,
                "reached": record.reached,
                "reached_at": record.reached_at,
                "archived": record.archived,
                "url": record.url,
                "raw": text,
                "content_hash": content_hash,
                "deleted_at": None,
                "access_lost_at": None,
                "first_seen_at": scope.now,
                "recorded_at": scope.now,
            }
        )
    _upsert(session, table, rows)
    return counts


# -- people ---------------------------------------------------------------------------------
def resolve_people(session: Session, scope: Scope, people: Iterable[Person]) -> dict[str, int]:
    """Vendor account id -> merged person id, creating people and identities as needed.

    One human is one person across tools when the tools expose the same e-mail.
    """
    unique = {p.vendor_id: p for p in people}
    if not unique:
        return {}
    identity = tables.PersonIdentity
    known = {v: scope.people[v] for v in unique if v in scope.people}
    statement = _IDENTITIES
    connection = session.connection()
    for chunk in _chunks(sorted(unique.keys() - known.keys()), 500):
        for vendor_id, person_id, name, email in connection.execute(
            statement, {"connection_id": scope.connection_id, "ids": list(chunk)}
        ):
            known[vendor_id] = (person_id, name, email)
    result: dict[str, int] = {}
    for vendor_id, person in unique.items():
        email = person.email.lower() if person.email else None
        if vendor_id in known:
            person_id, name, old_email = known[vendor_id]
            if (name, old_email) != (person.display_name, email):
                session.execute(
                    update(identity)
                    .where(
                        identity.connection_id == scope.connection_id,
                        identity.vendor_id == vendor_id,
                    )
                    .values(display_name=person.display_name, email=email)
                )
            scope.people[vendor_id] = (person_id, person.display_name, email)
            result[vendor_id] = person_id
            continue
        person_id = _person_for(session, person.display_name, email, scope.now)
        # Another worker may add the same identity meanwhile: theirs stands, ours is read back.
        session.execute(
            _insert_for(session.get_bind().dialect.name, _table(identity))
            .values(
                connection_id=scope.connection_id,
                vendor_id=vendor_id,
                person_id=person_id,
                display_name=person.display_name,
                email=email,
            )
            .on_conflict_do_nothing(index_elements=["connection_id", "vendor_id"])
        )
        result[vendor_id] = (
            session.scalar(
                select(identity.person_id).where(
                    identity.connection_id == scope.connection_id, identity.vendor_id == vendor_id
                )
            )
            or person_id
        )
        scope.people[vendor_id] = (result[vendor_id], person.display_name, email)
    return result


_IDENTITIES = select(
    tables.PersonIdentity.vendor_id,
    tables.PersonIdentity.person_id,
    tables.PersonIdentity.display_name,
    tables.PersonIdentity.email,
).where(
    tables.PersonIdentity.connection_id == bindparam("connection_id"),
    tables.PersonIdentity.vendor_id.in_(bindparam("ids", expanding=True)),
)


def _person_for(session: Session, name: str | None, email: str | None, now: datetime) -> int:
    if email is None:
        person = tables.Person(display_name=name, email=None, created_at=now)
        session.add(person)
        session.flush()
        return person.id
    # Insert-or-read by e-mail, so two workers meeting the same person never collide.
    session.execute(
        _insert_for(session.get_bind().dialect.name, _table(tables.Person))
        .values(display_name=name, email=email, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    found = session.scalar(select(tables.Person.id).where(tables.Person.email == email))
    if found is None:  # pragma: no cover - the row was just inserted or already there
        raise RuntimeError(f"person {email!r} vanished during insert")
    return found


# -- work items ----------------------------------------------------------------------------
#: Fields whose every change is kept in ``item_change`` (progress history and forecasts).
TRACKED_FIELDS = ("status_category", "estimate", "due_date")


def upsert_work_items(
    session: Session, scope: Scope, records: Sequence[tuple[WorkItem, dict[str, Any]]]
) -> WriteCounts:
    table = _table(tables.WorkItem)
    counts = WriteCounts()
    existing = _existing(
        session,
        table,
        scope.connection_id,
        [r.vendor_id for r, _ in records],
        *TRACKED_FIELDS,
    )
    projects = _id_map(
        session,
        _table(tables.Project),
        scope,
        (r.project_vendor_id for r, _ in records),
    )
    milestones = _id_map(
        session,
        _table(tables.Milestone),
        scope,
        (r.milestone_vendor_id for r, _ in records),
    )
    people = resolve_people(session, scope, (r.assignee for r, _ in records if r.assignee))
    rows: list[dict[str, Any]] = []
    changes: list[tuple[str, str, str | None, str | None, datetime]] = []
    for record, raw in records:
        text = raw_json(raw)
        content_hash = digest(text, scope.fingerprint)
        if not _split(existing, record.vendor_id, content_hash, counts):
            continue
        row = {
            "connection_id": scope.connection_id,
            "tool": scope.tool,
            "vendor_id": record.vendor_id,
            "key": record.key,
            "url": record.url,
            "project_id": projects.get(record.project_vendor_id or ""),
            "title": record.title,
            "item_type": record.item_type,
            "status_name": record.status_name,
            "status_category": record.status_category.value,
            "assignee_id": people.get(record.assignee.vendor_id) if record.assignee else None,
            "start_date": record.start_date,
            "due_date": record.due_date,
            "created_at": record.created_at,
            "vendor_updated_at": record.updated_at,
            "completed_at": record.completed_at,
            "estimate": record.estimate,
            "labels": list(record.labels),
            "priority": record.priority,
            "parent_vendor_id": record.parent_vendor_id,
            "milestone_id": milestones.get(record.milestone_vendor_id or ""),
            "blocked": record.blocked,
            "raw": text,
            "content_hash": content_hash,
            "deleted_at": None,
            "access_lost_at": None,
            "first_seen_at": scope.now,
            "recorded_at": scope.now,
        }
        rows.append(row)
        old = existing.get(record.vendor_id)
        if old is None:
            # First sight: the starting status is history; the other fields' first values
            # are on the row itself and only their changes need recording.
            changes.append(
                (
                    record.vendor_id,
                    "status_category",
                    None,
                    record.status_category.value,
                    record.updated_at,
                )
            )
        else:
            for name in TRACKED_FIELDS:
                new_value, old_value = _text(row[name]), _text(getattr(old, name))
                if new_value != old_value:
                    changes.append(
                        (record.vendor_id, name, old_value, new_value, record.updated_at)
                    )
        if old is not None and (old.deleted_at is not None or old.access_lost_at is not None):
            changes.append((record.vendor_id, "lifecycle", _lifecycle(old), "live", scope.now))
    _upsert(session, table, rows)
    if changes:
        ids = _id_map(session, table, scope, (c[0] for c in changes))
        _bulk_insert(
            session,
            _table(tables.ItemChange),
            [
                {
                    "work_item_id": ids[vendor_id],
                    "connection_id": scope.connection_id,
                    "field": name,
                    "old_value": old_value,
                    "new_value": new_value,
                    "changed_at": changed_at,
                    "source": "sync",
                    "sync_run_id": scope.sync_run_id,
                }
                for vendor_id, name, old_value, new_value, changed_at in changes
            ],
        )
    return counts


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return repr(float(value))  # 5 and 5.0 are the same estimate
    return str(value)


def _lifecycle(row: Any) -> str:
    return "deleted" if row.deleted_at is not None else "access_lost"


# -- lifecycle: census results -------------------------------------------------------------
def remember_seen(session: Session, sync_run_id: int, vendor_ids: Sequence[str]) -> None:
    if not vendor_ids:
        return
    dialect = session.get_bind().dialect.name
    table = _table(tables.CensusSeen)
    stmt: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    session.execute(
        stmt.on_conflict_do_nothing(),
        [{"sync_run_id": sync_run_id, "vendor_id": v} for v in vendor_ids],
    )


def apply_census(
    session: Session,
    scope: Scope,
    *,
    sync_run_id: int,
    complete_project_vendor_ids: Sequence[str],
    lost_project_vendor_ids: Sequence[str],
) -> tuple[int, int]:
    """Tombstone items missing from fully-enumerated projects; mark items of projects we can
    no longer see as access-lost; revive items seen again. Returns (deleted, access_lost)."""
    item = tables.WorkItem
    project = tables.Project
    seen = select(tables.CensusSeen.vendor_id).where(tables.CensusSeen.sync_run_id == sync_run_id)
    # Seen again: whatever we thought, it exists and we can see it.
    session.execute(
        update(item)
        .where(
            item.connection_id == scope.connection_id,
            item.vendor_id.in_(seen),
            or_(item.deleted_at.is_not(None), item.access_lost_at.is_not(None)),
        )
        .values(deleted_at=None, access_lost_at=None, recorded_at=scope.now)
        .execution_options(synchronize_session=False)
    )
    complete_ids = select(project.id).where(
        project.connection_id == scope.connection_id,
        project.vendor_id.in_(list(complete_project_vendor_ids)),
    )
    gone = and_(
        item.connection_id == scope.connection_id,
        item.deleted_at.is_(None),
        item.project_id.in_(complete_ids),
        ~exists().where(
            tables.CensusSeen.sync_run_id == sync_run_id,
            tables.CensusSeen.vendor_id == item.vendor_id,
        ),
    )
    deleted = _mark(session, scope, gone, "deleted")
    lost_ids = select(project.id).where(
        project.connection_id == scope.connection_id,
        project.vendor_id.in_(list(lost_project_vendor_ids)),
    )
    lost = and_(
        item.connection_id == scope.connection_id,
        item.deleted_at.is_(None),
        item.access_lost_at.is_(None),
        item.project_id.in_(lost_ids),
    )
    access_lost = _mark(session, scope, lost, "access_lost")
    if lost_project_vendor_ids:
        session.execute(
            update(project)
            .where(
                project.connection_id == scope.connection_id,
                project.vendor_id.in_(list(lost_project_vendor_ids)),
                project.access_lost_at.is_(None),
            )
            .values(access_lost_at=scope.now, recorded_at=scope.now)
        )
    session.execute(
        _table(tables.CensusSeen).delete().where(tables.CensusSeen.sync_run_id == sync_run_id)
    )
    return deleted, access_lost


def _mark(session: Session, scope: Scope, condition: Any, state: str) -> int:
    item = tables.WorkItem
    ids = list(session.scalars(select(item.id).where(condition)))
    if not ids:
        return 0
    column = item.deleted_at if state == "deleted" else item.access_lost_at
    for chunk in _chunks(ids, 500):
        session.execute(
            update(item)
            .where(item.id.in_(chunk))
            .values({column: scope.now, item.recorded_at: scope.now})
            .execution_options(synchronize_session=False)
        )
    session.execute(
        insert(_table(tables.ItemChange)),
        [
            {
                "work_item_id": item_id,
                "connection_id": scope.connection_id,
                "field": "lifecycle",
                "old_value": "live",
                "new_value": state,
                "changed_at": scope.now,
                "source": "census",
                "sync_run_id": scope.sync_run_id,
            }
            for item_id in ids
        ],
    )
    return len(ids)


def tombstone_milestone(session: Session, scope: Scope, vendor_id: str) -> bool:
    """A vendor told us that one milestone is deleted (or stopped being a milestone)."""
    milestone = tables.Milestone
    result = session.execute(
        update(milestone)
        .where(
            milestone.connection_id == scope.connection_id,
            milestone.vendor_id == vendor_id,
            milestone.deleted_at.is_(None),
        )
        .values(deleted_at=scope.now, recorded_at=scope.now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def tombstone(session: Session, scope: Scope, vendor_id: str) -> bool:
    """A vendor told us (webhook, tombstone feed) that one item is deleted."""
    item = tables.WorkItem
    row_id = session.scalar(
        select(item.id).where(
            item.connection_id == scope.connection_id,
            item.vendor_id == vendor_id,
            item.deleted_at.is_(None),
        )
    )
    if row_id is None:
        return False
    return _mark(session, scope, item.id == row_id, "deleted") == 1
