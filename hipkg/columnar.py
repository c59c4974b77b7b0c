"""Answers in columns, for analysts: a batch's or a cohort's answers as Arrow tables, one Parquet file per table.

Per case: ``cases`` (one row each, with the error of a case that could not be answered), ``answers`` (case x option,
with the status), ``reasons``, ``checks``, ``fired``, ``assumed_absent``, ``unrecognized`` and ``advice``. Once per
run: ``rules``, ``sources`` and ``options``, so that a statement's label and quote appear once, not once per answer.
SCHEMAS is the one definition of every table and column (the README's schema section is written from it). Slugs that
repeat in every row (option, status, rule, kind) are dictionary-encoded. The tables are written chunk by chunk
(``ParquetSink``), so memory stays bounded whatever the number of cases.
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from hipkg.errors import InputError, MissingExtra

if TYPE_CHECKING:
    import pyarrow as pa

    from hipkg.recommending import Recommendation, Recommender

#: The columns of every table: (name, type, what it holds). Types: str, int, bool, dict (a dictionary-encoded string),
#: list (a list of strings).
SCHEMAS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "cases": (("case", "str", "the case id: the input's \"case\", else its line number; a cohort's person_id"),
              ("line", "int", "the input line (a batch), or null (a cohort)"),
              ("date", "str", "the reference date the answer used"),
              ("goal", "dict", "the goal slug"), ("policy", "dict", "the policy slug"),
              ("recognized", "bool", "whether any code of the situation names a concept of the graph"),
              ("error", "str", "why the case could not be answered (null when it was): it has no other rows")),
    "answers": (("case", "dict", "the case id"), ("option", "dict", "the option id (see options)"),
                ("status", "dict", "fits, caution, check, avoid or not-indicated"),
                ("guidelines", "dict", "the guidelines' verdict on the option for this case")),
    "reasons": (("case", "dict", "the case id"), ("option", "dict", "the option id"),
                ("rule", "dict", "the rule (or check) that applies (see rules)"),
                ("kind", "dict", "indication, caution, contraindication, check or guideline"),
                ("because", "dict", "the fact of the situation that brought it"),
                ("asks", "dict", "a check: the rule it asks about"), ("severity", "dict", "a guideline rule: avoid or caution")),
    "checks": (("case", "dict", "the case id"), ("rule", "dict", "the rule that may apply"), ("check", "dict", "the open check"),
               ("question", "dict", "the question that settles it"), ("because", "list", "the facts that raise it")),
    "fired": (("case", "dict", "the case id"), ("rule", "dict", "a rule the situation triggers"),
              ("because", "list", "the facts that trigger it")),
    "assumed_absent": (("case", "dict", "the case id"),
                       ("rule", "dict", "an avoid-level contraindication neither triggered, asked nor ruled out")),
    "unrecognized": (("case", "dict", "the case id"), ("code", "str", "a code the graph does not use")),
    "advice": (("case", "dict", "the case id"), ("advice", "dict", "advice that applies (see rules)"),
               ("because", "list", "what brought it")),
    "rules": (("rule", "str", "a rule, check, threshold, window, advice or alternative id"), ("label", "str", "its label"),
              ("question", "str", "a check's question (null otherwise)")),
    "sources": (("rule", "str", "the rule id"), ("source", "str", "the document it is quoted from"),
                ("section", "str", "where in the document"), ("quote", "str", "the passage, verbatim")),
    "options": (("option", "str", "the option id"), ("label", "str", "its label"), ("target", "str", "target slug"),
                ("guidance", "str", "guidance slug"), ("purpose", "str", "purpose slug"),
                ("medication_categories", "list", "the medication categories of its regimen")),
}
#: The tables written once per case, in SCHEMAS order; the rest are written once per run.
PER_CASE = ("cases", "answers", "reasons", "checks", "fired", "assumed_absent", "unrecognized", "advice")


def arrow() -> Any:
    """pyarrow, or MissingExtra naming what installs it."""
    try:
        import pyarrow  # optional (hipkg[cohort]): imported where it is used
    except ImportError:
        raise MissingExtra("columnar output (--format parquet)", "pyarrow", "cohort") from None
    return pyarrow


def schema(name: str, plain: bool = False) -> "pa.Schema":
    """The Arrow schema of a table; ``plain``: dictionary columns as plain strings (what Spark writes)."""
    pa = arrow()
    return pa.schema([pa.field(n, _type(pa, t, plain)) for n, t, _ in SCHEMAS[name]])


def _type(pa: Any, kind: str, plain: bool = False) -> Any:
    """The Arrow type of a SCHEMAS kind."""
    if kind == "dict":
        return pa.string() if plain else pa.dictionary(pa.int32(), pa.string())
    return {"str": pa.string(), "int": pa.int64(), "bool": pa.bool_(), "list": pa.list_(pa.string())}[kind]


def case_counts(cases: "pa.Table") -> dict[str, int]:
    """What a ``cases`` table holds: cases, answered, errors (their rows say why), and unrecognized-only cases."""
    answered = cases.column("error").null_count
    return {"cases": cases.num_rows, "answered": answered, "errors": cases.num_rows - answered,
            "unrecognized_only": cases.column("recognized").to_pylist().count(False)}


class Columns:
    """Builds the per-case tables of one chunk. Answers share their reasons, reason tuples and often their option
    tuples (the recommender's memos), so the dictionary indices of each are made once, by identity, and a chunk's
    answers and reasons are those index arrays joined (numpy), with no Python work per answer row. The dictionaries and the arrays are kept across chunks and
    dropped together once they hold LIMIT entries, which bounds memory."""

    LIMIT = 50_000

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._made: dict[int, tuple[object, Any]] = {}
        self._codes: dict[str, dict[str | None, int]] = {k: {} for k in ("option", "status", "verdict", "rule", "kind", "because", "severity")}

    def _code(self, kind: str, value: str | None) -> int:
        """The dictionary index of ``value`` (-1: null)."""
        if value is None:
            return -1
        codes = self._codes[kind]
        found = codes.get(value)
        if found is None:
            found = codes[value] = len(codes)
        return found

    def tables(self, items: Iterable[tuple[str, int | None, "Recommendation | str"]]) -> dict[str, "pa.Table"]:
        """(case, line, answer or error message) -> the per-case tables."""
        import numpy as np  # with pyarrow (hipkg[cohort]): imported where it is used

        pa = arrow()
        if len(self._made) + sum(map(len, self._codes.values())) > self.LIMIT:
            self._reset()
        small: dict[str, dict[str, list[Any]]] = {t: {n: [] for n, _, _ in SCHEMAS[t]} for t in PER_CASE if t not in ("answers", "reasons")}
        big: list[tuple[int, Any]] = []  # (case number, the option tuple's arrays)
        for case, line, r in items:
            c = small["cases"]
            c["case"].append(case)
            c["line"].append(line)
            if isinstance(r, str):
                for key in ("date", "goal", "policy", "recognized"):
                    c[key].append(None)
                c["error"].append(r)
                continue
            s = r.situation
            c["date"].append(r.date)
            c["goal"].append(s.goal)
            c["policy"].append(s.policy)
            given = (len(s.findings) + len(s.suspected) + len(s.absent) + len(s.allergies) + len(s.medications)
                     + len(s.observations) + len(s.procedures))
            c["recognized"].append(given > len(r.unrecognized))
            c["error"].append(None)
            big.append((len(c["case"]) - 1, self._arrays(r.options)))
            for table, rows in (("checks", [(q.id, q.check, q.question, list(q.because)) for q in r.questions]),
                                ("fired", [(f.id, list(f.because)) for f in r.rules]),
                                ("assumed_absent", [(f.id,) for f in r.assumed_absent]),
                                ("unrecognized", [(u,) for u in r.unrecognized_json()]),
                                ("advice", [(a.id, list(a.because)) for a in r.advice])):
                for row in rows:
                    for name, value in zip(small[table], (case, *row)):
                        small[table][name].append(value)
        out = {t: pa.table({n: _array(pa, v, kind) for (n, kind, _), v in zip(SCHEMAS[t], cols.values())}, schema=schema(t))
               for t, cols in small.items()}
        cases = pa.array(small["cases"]["case"], pa.string())
        dictionaries = {k: pa.array(list(v), pa.string()) for k, v in self._codes.items()}
        for table, kinds in (("answers", ("option", "status", "verdict")), ("reasons", ("option", "rule", "kind", "because", "rule", "severity"))):
            parts = [(number, arrays[table]) for number, arrays in big]
            counts = np.array([len(a[0]) for _, a in parts], dtype=np.int64)
            columns = {"case": pa.DictionaryArray.from_arrays(pa.array(np.repeat(np.array([n for n, _ in parts], dtype=np.int32), counts)), cases)}
            for (name, _, _), kind, i in zip(SCHEMAS[table][1:], kinds, range(len(kinds))):
                indices = np.concatenate([a[i] for _, a in parts]) if parts else np.zeros(0, dtype=np.int32)
                columns[name] = pa.DictionaryArray.from_arrays(pa.array(indices, mask=indices < 0), dictionaries[kind])
            out[table] = pa.table(columns, schema=schema(table))
        return {t: out[t] for t in PER_CASE}

    def _arrays(self, options: Sequence[Any]) -> dict[str, tuple[Any, ...]]:
        """The dictionary indices of an option tuple's answers and reasons, made once per tuple (by identity)."""
        import numpy as np  # with pyarrow (hipkg[cohort]): imported where it is used

        hit = self._made.get(id(options))
        if hit is not None and hit[0] is options:
            return hit[1]
        rows = [self._option(o) for o in options]
        i32 = lambda values: np.array(values, dtype=np.int32)  # noqa: E731
        made = {"answers": tuple(i32([row[0][i] for row in rows]) for i in range(3)),
                "reasons": tuple(i32([v for row in rows for v in row[1][i]]) for i in range(6))}
        self._made[id(options)] = (options, made)
        return made

    def _reason(self, x: Any) -> tuple[int, int, int, int, int]:
        """A reason's codes (rule, kind, because, asks, severity): reasons are interned, so made once each."""
        hit = self._made.get(id(x))
        if hit is not None and hit[0] is x:
            return hit[1]
        code = self._code
        made = (code("rule", x.id), code("kind", x.kind), code("because", x.because), code("rule", x.rule), code("severity", x.severity))
        self._made[id(x)] = (x, made)
        return made

    def _option(self, o: Any) -> tuple[tuple[int, int, int], tuple[list[int], ...]]:
        """One option's answer codes and reason columns: equal options are one object across tuples (the recommender
        shares them), so this is made once per option result, by identity."""
        hit = self._made.get(id(o))
        if hit is not None and hit[0] is o:
            return hit[1]
        option = self._code("option", o.id)
        hit = self._made.get(id(o.reasons))
        if hit is None or hit[0] is not o.reasons:  # reason tuples are shared by the options the same rules concern
            hit = self._made[id(o.reasons)] = (o.reasons, tuple(map(list, zip(*map(self._reason, o.reasons)))) or ([], [], [], [], []))
        made = ((option, self._code("status", o.status), self._code("verdict", o.guidelines.verdict)), ([option] * len(o.reasons), *hit[1]))
        self._made[id(o)] = (o, made)
        return made


def _array(pa: Any, values: list[Any], kind: str) -> Any:
    if kind == "dict":
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, _type(pa, kind))


def run_tables(recommender: "Recommender") -> dict[str, "pa.Table"]:
    """The tables written once per run: every statement the answers may cite (rules, sources) and every option."""
    pa = arrow()
    citations = sorted(recommender.citations.items())
    questions = recommender.questions
    options = [fields for fields, _ in recommender.described]
    columns = {
        "rules": ([k for k, _ in citations], [label for _, (label, _) in citations], [questions.get(k) for k, _ in citations]),
        "sources": ([k for k, _ in citations], [c.source for _, (_, c) in citations], [c.section for _, (_, c) in citations],
                    [c.quote for _, (_, c) in citations]),
        "options": ([o[0] for o in options], [o[1] for o in options], [o[2] for o in options], [o[3] for o in options],
                    [o[5] for o in options], [list(o[4]) for o in options]),
    }
    return {t: pa.table({n: _array(pa, v, "str" if kind == "dict" else kind) for (n, kind, _), v in zip(SCHEMAS[t], cols)}, schema=schema(t))
            for t, cols in columns.items()}


class ParquetSink:
    """Writes the tables to DIR/NAME.parquet, a chunk at a time (one row group per chunk), then the run's tables and
    ``run.json`` (the counts) on ``close``. Refuses a folder that already holds answers: nothing is overwritten."""

    FILES = (*PER_CASE, "rules", "sources", "options")

    def __init__(self, folder: str) -> None:
        arrow()
        self.folder = folder
        taken = [f"{t}.parquet" for t in self.FILES if os.path.exists(os.path.join(folder, f"{t}.parquet"))]
        if taken:
            raise InputError(f"{folder}: already holds {', '.join(taken[:3])}; give a new or empty --output folder "
                             "(nothing is overwritten)")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{folder}: cannot create the --output folder ({exc.strerror})") from exc
        self.writers: dict[str, Any] = {}
        self.counts: dict[str, int] = {"cases": 0, "answered": 0, "errors": 0, "unrecognized_only": 0}

    def write(self, tables: dict[str, "pa.Table"]) -> None:
        import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

        for name, table in tables.items():
            writer = self.writers.get(name)
            if writer is None:
                writer = self.writers[name] = pq.ParquetWriter(os.path.join(self.folder, f"{name}.parquet"), schema(name),
                                                               compression="zstd")
            writer.write_table(table)
        for key, value in case_counts(tables["cases"]).items():
            self.counts[key] += value

    def close(self, recommender: "Recommender", report: dict[str, Any]) -> dict[str, Any]:
        """Write the run's tables (and empty per-case tables when there were no cases) and run.json; returns the counts."""
        import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

        for name in PER_CASE:
            if name not in self.writers:
                pq.write_table(schema(name).empty_table(), os.path.join(self.folder, f"{name}.parquet"), compression="zstd")
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
        for name, table in run_tables(recommender).items():
            pq.write_table(table, os.path.join(self.folder, f"{name}.parquet"), compression="zstd")
        summary = {**self.counts, **report}
        with open(os.path.join(self.folder, "run.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)
            handle.write("\n")
        return summary
