"""Hot reads whose SQL is compiled once per process instead of on every request.

Building and compiling a queryset costs this project's small, indexed reads more CPU than the
database spends answering them (≈ 0.7 ms against ≈ 0.1 ms here, per query). The reads behind
`GET /tickets/{id}/context` and `POST /tickets` are therefore declared once as a `CompiledRead`:
a function that builds an ordinary `values()` queryset from its arguments. The first call per
database compiles it with placeholder arguments and remembers the SQL; later calls only swap in
the parameter values and run it through Django's own result converters (JSON, decimals, SQLite
datetimes), so the rows are exactly what the queryset would have returned.

Rules for `build`: every argument must reach the SQL as a parameter (a filter value, compared
with `=`, `>`, …), never as part of the SQL text; anything that changes the SQL text (a LIMIT,
a field name) goes in `shape`, which is part of the cache key. Integer arguments must fit in a
signed 64-bit column.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.constants import OnConflict
from django.db.models.sql.compiler import SQLCompiler

# Values no real argument takes, so the compiled parameters can be told apart from constants.
_INT_PLACEHOLDER = -7_319_000_000_000
_DATETIME_PLACEHOLDER = datetime(1901, 2, 3, 4, 5, 6, 424_242, tzinfo=UTC)
_STR_PLACEHOLDER = "\x1fcompiled-read-{}\x1f"


def _placeholder(kind: type, index: int) -> Any:
    if kind is int:
        return _INT_PLACEHOLDER - index
    if kind is datetime:
        return _DATETIME_PLACEHOLDER.replace(second=index)
    if kind is str:
        return _STR_PLACEHOLDER.format(index)
    raise TypeError(f"CompiledRead arguments are int, str or datetime, not {kind!r}")


@dataclass(frozen=True)
class _Slot:
    """One SQL parameter: a constant, or argument `index` passed through `adapt`."""

    index: int | None
    value: Any = None
    adapt: Callable[[Any, Any], Any] | None = None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    slots: tuple[_Slot, ...]
    compiler: SQLCompiler
    names: tuple[str, ...]


def _adapt_datetime(value: datetime, connection) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


class CompiledRead:
    """A `values()` queryset compiled to SQL once per process and database.

    `build(*args, *shape)` returns the queryset; `kinds` are the types of `args`
    (int, str or datetime). `rows(*args, shape=...)` returns what `list(build(...))` would.
    """

    def __init__(self, build: Callable[..., QuerySet], *kinds: type) -> None:
        self._build = build
        self._kinds = kinds
        self._compiled: dict[Hashable, _Compiled] = {}

    def rows(self, *args: Any, shape: tuple = ()) -> list[dict]:
        connection = connections[DEFAULT_DB_ALIAS]
        compiled, params = self.bound(connection, args, shape)
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            results = cursor.fetchall()
        return self.converted(compiled, results)

    def bound(self, connection, args: tuple, shape: tuple) -> tuple[_Compiled, list]:
        """The compiled statement for `shape` and its parameters for `args`."""
        if len(args) != len(self._kinds):
            raise TypeError(f"expected {len(self._kinds)} arguments, got {len(args)}")
        key = (connection.vendor, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(connection, shape)
        params = [
            slot.value
            if slot.index is None
            else (slot.adapt(args[slot.index], connection) if slot.adapt else args[slot.index])
            for slot in compiled.slots
        ]
        return compiled, params

    @staticmethod
    def converted(compiled: _Compiled, results: list) -> list[dict]:
        """Rows as fetched (the compiled statement's columns) as `values()` dicts."""
        names = compiled.names
        indexes = range(len(names))
        return [
            {names[i]: row[i] for i in indexes}
            for row in compiled.compiler.results_iter(results=[results])
        ]

    def _compile(self, connection, shape: tuple) -> _Compiled:
        placeholders = [_placeholder(kind, i) for i, kind in enumerate(self._kinds)]
        query = self._build(*placeholders, *shape).query
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        # What each placeholder looks like once the field has prepared it for the database.
        markers = [
            connection.ops.adapt_datetimefield_value(p) if kind is datetime else p
            for kind, p in zip(self._kinds, placeholders, strict=True)
        ]
        slots, seen = [], set()
        for value in params:
            index = next(
                (
                    i
                    for i, marker in enumerate(markers)
                    if isinstance(value, type(marker)) and value == marker
                ),
                None,
            )
            if index is None:
                slots.append(_Slot(None, value=value))
                continue
            seen.add(index)
            if self._kinds[index] is datetime:
                adapt = _adapt_datetime
            elif type(value) is not type(markers[index]):
                # e.g. psycopg's Int8 wrapper, which Django puts around integers for Postgres.
                cast = type(value)
                adapt = lambda arg, connection, cast=cast: cast(arg)  # noqa: E731
            else:
                adapt = None
            slots.append(_Slot(index, adapt=adapt))
        if len(seen) != len(self._kinds):
            raise ValueError(
                "Every CompiledRead argument must reach the SQL as a parameter; "
                f"compiled: {sql!r} with {params!r}"
            )
        names = tuple(query.selected)  # set by .values() on Django 5.2, which these reads use
        return _Compiled(sql=sql, slots=tuple(slots), compiler=compiler, names=names)


class CompiledReads:
    """Several `CompiledRead`s sent as one statement on Postgres (elsewhere: one each), for
    reads that are always made together (a customer's orders and tickets, for every ticket's
    context): each read is a subquery, and the subqueries are FULL JOINed `ON false`, so every
    row holds one read's columns and NULLs in the others'. `rows()` answers what each read's
    own `rows()` would, in its order.

    Each read comes with its ORDER BY as output column names (`-name`: descending), applied
    again by the outer query (a join keeps no order); the first of them must never be NULL in
    that read's rows: it tells which read a row is from.

    Why: each statement costs ≈ 0.12-0.16 ms of client CPU and a round trip here."""

    def __init__(self, *reads: tuple[CompiledRead, tuple[str, ...]]) -> None:
        self._reads = reads
        self._sql: dict[Hashable, tuple[str, tuple[tuple[int, int, int], ...]]] = {}

    def rows(self, *calls: tuple[tuple, tuple]) -> list[list[dict]]:
        """`calls`: each read's (args, shape), in order; the rows of each read."""
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor != "postgresql":
            return [
                read.rows(*args, shape=shape)
                for (read, _), (args, shape) in zip(self._reads, calls, strict=True)
            ]
        bound = [
            read.bound(connection, args, shape)
            for (read, _), (args, shape) in zip(self._reads, calls, strict=True)
        ]
        key = tuple(shape for _, shape in calls)
        built = self._sql.get(key)
        if built is None:
            built = self._sql[key] = self._build(connection, [c for c, _ in bound])
        sql, spans = built
        with connection.cursor() as cursor:
            cursor.execute(sql, [p for _, params in bound for p in params])
            results = cursor.fetchall()
        return [
            CompiledRead.converted(
                compiled, [row[start:end] for row in results if row[marker] is not None]
            )
            for (compiled, _), (start, end, marker) in zip(bound, spans, strict=True)
        ]

    def _build(self, connection, compiled: list[_Compiled]) -> tuple[str, tuple]:
        quote = connection.ops.quote_name
        joined, which, order, spans, start = [], [], [], [], 0
        for i, ((_, read_order), one) in enumerate(zip(self._reads, compiled, strict=True)):
            alias = f"r{i}"
            joined.append(f"({one.sql}) {alias}" + (" ON false" if i else ""))
            first = read_order[0].lstrip("-")
            which.append(f"WHEN {alias}.{quote(first)} IS NOT NULL THEN {i}")
            order += [
                f"{alias}.{quote(name.lstrip('-'))}{' DESC' if name.startswith('-') else ''}"
                for name in read_order
            ]
            end = start + len(one.names)
            spans.append((start, end, start + one.names.index(first)))
            start = end
        sql = (
            f"SELECT * FROM {' FULL JOIN '.join(joined)} "
            f"ORDER BY CASE {' '.join(which)} END, {', '.join(order)}"
        )
        return sql, tuple(spans)


class CompiledInsert:
    """A multi-row INSERT of new `model` rows whose SQL is built once per process, database
    and row count (on Postgres, once for any count above one: see `_form`), for the rows
    `POST /tickets` writes every time (its five suggestions, its embedding). Every concrete
    field is written (an auto primary key excepted), each value through the field's own
    `pre_save` (`auto_now_add` is set on the object) and `get_db_prep_save`, as `bulk_create`
    does; an auto primary key comes back through RETURNING into each object's `pk`, in row
    order (as `bulk_create` reads it). No signals, and no database defaults (a `db_default`
    field is refused unless it also has a Python `default`, which the objects then hold): what
    is written is what the objects hold. An IntegrityError is the
    caller's, as with `bulk_create`, unless `ignore_conflicts` (as
    `bulk_create(ignore_conflicts=True)`: a row that conflicts is skipped; only for models
    whose primary key the caller sets, since skipped rows return no key).

    `sql_values` (for `CompiledInsertChain`) names fields whose value is an SQL expression
    instead of a parameter: the key of a row an earlier part of the same statement wrote."""

    def __init__(
        self, model, *, ignore_conflicts: bool = False, sql_values: dict[str, str] | None = None
    ) -> None:
        self._model = model
        pk = model._meta.pk
        auto_pk = _has_auto_pk(model)
        if ignore_conflicts and auto_pk:
            raise ValueError("ignore_conflicts needs a primary key set by the caller")
        self._on_conflict = OnConflict.IGNORE if ignore_conflicts else None
        self._fields = tuple(f for f in model._meta.concrete_fields if not (auto_pk and f is pk))
        if defaults := [f.name for f in self._fields if f.has_db_default() and not f.has_default()]:
            raise ValueError(
                f"{model.__name__}: db_default is not written by CompiledInsert: {defaults}"
            )
        self._sql_values = {
            model._meta.get_field(name): sql for name, sql in (sql_values or {}).items()
        }
        # The fields sent as parameters, in column order.
        self._sent = tuple(f for f in self._fields if f not in self._sql_values)
        self._returning = pk if auto_pk else None
        self._sql: dict[Hashable, str] = {}
        self._codecs: tuple[str, ...] | None = None  # per sent field, see _json_codecs; () if not

    def insert(self, objs: list) -> list:
        if not objs:
            return objs
        connection = connections[DEFAULT_DB_ALIAS]
        form = self._form(connection, len(objs))
        sql = self.sql(connection, len(objs), form)
        params = self.params(objs, connection, form)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = cursor.fetchall() if self._returning is not None else ()
        self.inserted(objs, [row[0] for row in returned])
        return objs

    def sql(self, connection, rows: int, form: str) -> str:
        """The statement for `rows` rows sent in `form` (see `_form`), built once."""
        key = (connection.vendor, form if form != "values" else rows)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = self._build(connection, rows, form)
        return sql

    def params(self, objs: list, connection, form: str) -> list:
        """The statement's parameters for `objs` (each field's `pre_save` runs here)."""
        fields = self._sent
        rows = [
            [field.get_db_prep_save(field.pre_save(obj, add=True), connection) for field in fields]
            for obj in objs
        ]
        if form == "json":
            return [_json_rows(rows, self._codecs)]
        return [value for row in rows for value in row]

    def inserted(self, objs: list, keys: list) -> None:
        """Mark `objs` as saved, each with its returned primary key (if the model's is auto)."""
        for obj, key in zip(objs, keys, strict=False):
            obj.pk = key
        for obj in objs:
            obj._state.adding = False
            obj._state.db = DEFAULT_DB_ALIAS

    @property
    def returns_keys(self) -> bool:
        return self._returning is not None

    def _form(self, connection, rows: int) -> str:
        """How the rows travel: `values` (a placeholder per value), or on Postgres, for several
        rows whose every column has a JSON form, `json` (one jsonb array of rows).

        Why: five suggestions as values were 65 parameters, past the 50 up to which psycopg
        caches a query's conversion, so it re-parsed the statement for every ticket; as one
        array per column (Django's bulk_create UNNEST), psycopg's list dumper (Python)
        converted the 65 values one by one. One JSON document is one C `json.dumps` and one
        parameter: in a request, the suggestions' INSERT took 0.89-1.13 ms as values, 0.66-0.92
        as arrays, 0.45 as JSON (thread CPU)."""
        if rows <= 1 or connection.vendor != "postgresql":
            return "values"
        if self._codecs is None:
            self._codecs = _json_codecs(self._sent)
        return "json" if self._codecs else "values"

    def _build(self, connection, rows: int, form: str) -> str:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in self._fields)
        insert = connection.ops.insert_statement(on_conflict=self._on_conflict)
        sql = f"{insert} {quote(self._model._meta.db_table)} ({columns}) "
        if form == "json":
            # Text out of each row's element i, cast to the column's type without its length
            # (varchar, not varchar(300): the column still checks it); jsonb columns: the value
            # wrapped in a one-element array, so SQL NULL and JSON null stay apart. Rows in
            # array order, the order RETURNING gives the keys back in.
            element = dict(
                zip(self._sent, zip(range(len(self._sent)), self._codecs, strict=True), strict=True)
            )
            values = []
            for field in self._fields:
                if field in self._sql_values:
                    values.append(self._sql_values[field])
                    continue
                i, codec = element[field]
                values.append(
                    f"(e->{i})->0"
                    if codec == "json"
                    else f"(e->>{i})::{field.db_type(connection).split('(')[0]}"
                )
            sql += (
                f"SELECT {', '.join(values)} FROM jsonb_array_elements((%s)::jsonb) "
                "WITH ORDINALITY AS r(e, n) ORDER BY n"
            )
        else:
            row = "(" + ", ".join(self._sql_values.get(f, "%s") for f in self._fields) + ")"
            sql += "VALUES " + ", ".join([row] * rows)
        if self._on_conflict is not None:
            suffix = connection.ops.on_conflict_suffix_sql(self._fields, self._on_conflict, [], [])
            sql += f" {suffix}" if suffix else ""
        if self._returning is not None:
            sql += f" RETURNING {quote(self._returning.column)}"
        return sql


def _has_auto_pk(model) -> bool:
    return model._meta.pk.get_internal_type() in {"AutoField", "BigAutoField", "SmallAutoField"}


@dataclass(frozen=True)
class InsertStep:
    """One model's new rows in a `CompiledInsertChain`. `links` maps a field to an earlier
    step: `"ticket"` (a foreign key: that step's row, whose auto primary key the database
    assigns in the same statement) or `"ticket.created_at"` (a copy of that attribute of that
    step's row, as its `pre_save` left it). A linked step writes exactly one row."""

    name: str
    model: type
    links: dict[str, str] = dataclasses.field(default_factory=dict)


class CompiledInsertChain:
    """New rows of several models where later ones point at earlier ones (a ticket, its first
    message, the message's suggestions, the ticket's embedding), written by one statement on
    Postgres, built once per process and shape: a chain of data-modifying CTEs,

        WITH "ticket" AS (INSERT … VALUES (…) RETURNING "id"),
             "message" AS (INSERT … VALUES ((SELECT "id" FROM "ticket"), %s, …) RETURNING "id"),
             "suggestions" AS (INSERT … SELECT (SELECT "id" FROM "ticket"), …
                               FROM jsonb_array_elements(%s::jsonb) … RETURNING "id"), …
        SELECT ARRAY(SELECT "id" FROM "ticket"), ARRAY(SELECT "id" FROM "message"), …

    instead of one INSERT per model, each waiting for the previous one's key. Each step is a
    `CompiledInsert` (same values, same forms, same rules: no signals, no `db_default`); a
    foreign key to an earlier step's row is the SQL `(SELECT "id" FROM "<step>")` instead of a
    parameter. The statement succeeds or fails as a whole: a failing step leaves nothing of
    the others. A step given no rows is left out of the statement (the shape, and the cache
    key, are which steps have rows and how many); the steps linking to it must then have none
    either. Elsewhere (SQLite) the steps are one `CompiledInsert` each, in order, with the
    same results.

    Why: on POST /tickets the four INSERTs of a new ticket were four statements and four round
    trips, each costing ≈ 0.12-0.16 ms of client CPU here; as one, the request thread spends
    0.57-0.63 of the time on them (medians 0.85-1.59 -> 0.51-0.90 ms, alternated in a request,
    bench/insert_chain_ab.py), and the server's CPU is unchanged within the measurement's noise.
    """

    def __init__(self, *steps: InsertStep) -> None:
        self._steps = steps
        self._each = tuple(CompiledInsert(step.model) for step in steps)
        self._fk_links: list[dict[str, int]] = []  # per step: field name -> earlier step index
        self._copy_links: list[list[tuple[str, int, str]]] = []  # (field attname, step, attr)
        index = {}
        for i, step in enumerate(steps):
            fks, copies = {}, []
            for name, target in step.links.items():
                target_step, _, attr = target.partition(".")
                if target_step not in index:
                    raise ValueError(f"{step.name}.{name}: no earlier step {target_step!r}")
                j = index[target_step]
                field_ = step.model._meta.get_field(name)
                if attr:
                    copies.append((field_.attname, j, attr))
                elif field_.is_relation and field_.related_model is steps[j].model:
                    if not _has_auto_pk(steps[j].model):
                        raise ValueError(f"{step.name}.{name}: {target_step} has no auto key")
                    fks[name] = j
                else:
                    raise ValueError(f"{step.name}.{name} is no foreign key to {target_step}")
            self._fk_links.append(fks)
            self._copy_links.append(copies)
            index[step.name] = i
        self._linked: tuple[CompiledInsert, ...] | None = None  # built on first use (quoting)
        self._sql: dict[Hashable, str] = {}

    def insert(self, **rows: list) -> None:
        """Insert each step's new objects (`step name=[objects]`); every object gets its key
        (and its links' values) as if each step had been inserted in turn."""
        if unknown := set(rows) - {step.name for step in self._steps}:
            raise TypeError(f"no step named {sorted(unknown)}")
        objs = [rows.get(step.name) or [] for step in self._steps]
        for i, fks in enumerate(self._fk_links):
            for j in {*fks.values(), *(j for _, j, _ in self._copy_links[i])}:
                if objs[i] and len(objs[j]) != 1:
                    raise ValueError(
                        f"{self._steps[i].name} links to {self._steps[j].name}: "
                        f"one row there, not {len(objs[j])}"
                    )
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.vendor == "postgresql":
            self._insert_at_once(objs, connection)
        else:
            self._insert_each(objs)

    def _insert_each(self, objs: list[list]) -> None:
        for i, insert in enumerate(self._each):
            self._link(i, objs, keys=True)
            insert.insert(objs[i])

    def _insert_at_once(self, objs: list[list], connection) -> None:
        if self._linked is None:
            self._linked = self._linked_inserts(connection)
        shape, params = [], []
        for i, insert in enumerate(self._linked):
            if not objs[i]:
                shape.append(None)
                continue
            self._link(i, objs, keys=False)  # keys come from the statement
            form = insert._form(connection, len(objs[i]))
            shape.append(form if form != "values" else len(objs[i]))
            params += insert.params(objs[i], connection, form)  # after the links' pre_save
        key = tuple(shape)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = self._build(connection, shape)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned = iter(cursor.fetchone())
        for i, insert in enumerate(self._linked):
            if objs[i]:
                insert.inserted(objs[i], next(returned) if insert.returns_keys else [])
                self._link(i, objs, keys=True, copies=False)

    def _link(self, i: int, objs: list[list], *, keys: bool, copies: bool = True) -> None:
        if not objs[i]:
            return
        for obj in objs[i]:
            if copies:
                for attname, j, attr in self._copy_links[i]:
                    setattr(obj, attname, getattr(objs[j][0], attr))
            if keys:
                for name, j in self._fk_links[i].items():
                    setattr(obj, name, objs[j][0])  # the key and the cached object

    def _linked_inserts(self, connection) -> tuple[CompiledInsert, ...]:
        quote = connection.ops.quote_name
        return tuple(
            CompiledInsert(
                step.model,
                sql_values={
                    name: f"(SELECT {quote(self._steps[j].model._meta.pk.column)} "
                    f"FROM {quote(self._steps[j].name)})"
                    for name, j in self._fk_links[i].items()
                },
            )
            for i, step in enumerate(self._steps)
        )

    def _build(self, connection, shape: list) -> str:
        quote = connection.ops.quote_name
        ctes, results = [], []
        for step, insert, rows in zip(self._steps, self._linked, shape, strict=True):
            if rows is None:
                continue
            sql = (
                insert.sql(connection, 0, "json")
                if rows == "json"
                else insert.sql(connection, rows, "values")
            )
            ctes.append(f"{quote(step.name)} AS ({sql})")
            if insert.returns_keys:
                pk = quote(step.model._meta.pk.column)
                results.append(f"ARRAY(SELECT {pk} FROM {quote(step.name)})")
        return f"WITH {', '.join(ctes)} SELECT {', '.join(results) or 'NULL'}"


# Internal types whose prepared value (get_db_prep_save on Postgres) has a JSON form whose text
# the column's type reads back exactly: ints, strings, booleans as they are; floats by their
# shortest round-trip repr (non-finite ones as 'NaN'/'Infinity' text, which float8 reads);
# dates and times as ISO 8601.
_JSON_CODECS = {
    **dict.fromkeys(
        (
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
            "CharField",
            "TextField",
            "EmailField",
            "SlugField",
            "URLField",
            "BooleanField",
        ),
        "plain",
    ),
    "FloatField": "float",
    "DateTimeField": "iso",
    "DateField": "iso",
    "TimeField": "iso",
    "JSONField": "json",
}


def _json_codecs(fields) -> tuple[str, ...]:
    """Each field's JSON codec, or () when one has none (or builds its own placeholder)."""
    codecs = []
    for field in fields:
        target = field.target_field if field.is_relation else field
        codec = _JSON_CODECS.get(target.get_internal_type())
        if codec is None or hasattr(field, "get_placeholder") or getattr(field, "encoder", None):
            return ()  # (a JSONField's own encoder is the one that knows its values)
        codecs.append(codec)
    return tuple(codecs)


def _json_rows(rows: list[list], codecs: tuple[str, ...]) -> str:
    out = []
    for row in rows:
        values = []
        for value, codec in zip(row, codecs, strict=True):
            if value is None or codec == "plain":
                pass
            elif codec == "float":
                if not math.isfinite(value):
                    value = str(float(value)).replace("inf", "Infinity").replace("nan", "NaN")
            elif codec == "iso":
                value = value.isoformat()
            else:  # json: psycopg's Jsonb wrapper, as JSONField prepares values for Postgres
                value = [getattr(value, "obj", value)]
            values.append(value)
        out.append(values)
    return json.dumps(out, ensure_ascii=False, allow_nan=False)
