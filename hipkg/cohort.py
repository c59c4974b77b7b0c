"""Cohorts: every person of an OMOP CDM answered as of a date, in columns (hipkg.columnar), in this process and its
batch workers (hipkg.batch) or on Spark (hipkg.spark). The CDM is read by hipkg.omop, a block of persons at a time."""
from __future__ import annotations

import datetime
from typing import Any, Callable

from hipkg.batch import Answered, Batch, Unreadable
from hipkg.columnar import ParquetSink
from hipkg.errors import InputError
from hipkg.omop import OmopReader, connect
from hipkg.recommending import Recommender


def check_date(date: str) -> str:
    """The reference date of a cohort: not after today (a CDM holds what happened)."""
    if datetime.date.fromisoformat(date) > datetime.date.today():
        raise InputError(f"--date {date} is in the future; a cohort is answered as of a day that has come (today is "
                         f"{datetime.date.today().isoformat()})")
    return date


def answer(recommender: Recommender, url: str, date: str, output: str, stop: bool = True, chunk: int = 1000, jobs: int = 1,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Answer every person of the CDM at ``url`` as of ``date`` into the tables of ``output``; returns the counts
    (also in output/run.json). ``stop``: the first bad record ends the run (InvalidCdm); else the person's row in
    ``cases`` says what was wrong."""
    check_date(date)
    reader = OmopReader(recommender.store, connect(url))
    sink = ParquetSink(output)
    done = 0

    def report(answered: Answered, count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done)

    batch = Batch(recommender, sink, report, "OMOP CDM", stop, chunk, jobs, unit="person")
    try:
        for person, situation in reader.persons(date, stop):
            batch.add_line(person, situation if not isinstance(situation, str) else Unreadable(situation))
        batch.close()
    except BaseException:
        batch.abort()
        raise
    return sink.close(recommender, {"input": url, "date": date, **reader.counts.to_json()})
