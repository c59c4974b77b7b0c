"""hipkg cohort: every person of an OMOP CDM answered as of a date, in columns; or a synthetic CDM to try it on."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap

from hipkg.cli._common import iso_date, positive
from hipkg.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cohort",
        help="answer every person of an OMOP CDM as of a date, in Parquet tables",
        description="Build one version-2 situation per person of an OMOP CDM v5.4 as of --date (conditions and drugs "
        "still ongoing, the latest measurement of each code, every procedure and observation before it; what is read is "
        "the graph's: hipkg query omop/tables) and answer them all into the tables of the README's 'Answers in columns'. "
        "Informational only; no substitute for a clinician.",
        epilog=textwrap.dedent("""\
            URL: duckdb:///PATH/cdm.duckdb (a DuckDB file), or a folder of Parquet files, one per table (person,
              condition_occurrence, drug_exposure, measurement, observation, procedure_occurrence, concept,
              concept_relationship). Needs pip install 'hipkg[cohort]' (duckdb, pyarrow); --spark needs 'hipkg[spark]'.

            examples:
              hipkg cohort --make-synthetic 1000 cdm/                      (a synthetic CDM, no patient data)
              hipkg cohort --omop duckdb:///$PWD/cdm/cdm.duckdb --date 2026-06-30 --output answers/
              hipkg cohort --omop cdm/ --date 2026-06-30 --output answers/ --on-error skip
              hipkg cohort --omop cdm/ --date 2026-06-30 --output answers/ --spark 'local[2]'

            exit codes: 0 answered, 2 bad input: a missing table or column, a concept id the concept table lacks, a
              measurement without a unit, a date in the future (the message names table, column, row and person; with
              --on-error skip the person's row in cases.parquet says it instead, and the run goes on)"""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--omop", metavar="URL", help="the CDM: duckdb:///PATH or a folder of Parquet files")
    p.add_argument("--date", type=iso_date, metavar="YYYY-MM-DD", help="the reference date the persons are answered as of "
                   "(--omop: required; --make-synthetic: default 2026-06-30)")
    p.add_argument("--output", "-o", metavar="DIR", help="--omop: the folder for the tables (it must not hold answers already)")
    p.add_argument("--on-error", choices=("fail", "skip"), default="fail",
                   help="a person with a bad record: stop with exit 2 (fail, default), or answer the others and say what was "
                   "wrong in the person's row of cases.parquet (skip)")
    p.add_argument("--chunk", type=positive(int, "a whole number of persons"), default=None, metavar="N",
                   help="persons per query run (default: 1000; with --spark, hipkg.spark.CHUNK)")
    p.add_argument("--jobs", type=positive(int, "a whole number of processes"), default=None, metavar="N",
                   help="worker processes once there is more than one chunk (default: the number of CPUs, at most 4; with "
                   "--spark, Spark's executors answer instead)")
    p.add_argument("--spark", metavar="MASTER", help="answer on Spark instead: local[2], spark://HOST:7077, yarn (the CDM is "
                   "read here; the situations are answered in the executors)")
    p.add_argument("--make-synthetic", nargs=2, metavar=("N", "DIR"), help="write a synthetic CDM of N persons to DIR (Parquet "
                   "files, cdm.duckdb and situations.jsonl, the same persons as hipkg situations)")
    p.add_argument("--seed", type=int, default=18, metavar="N", help="--make-synthetic: the random seed (default: 18)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.make_synthetic:
        if args.omop or args.output or args.spark:
            raise InputError("--make-synthetic N DIR writes a CDM; answer it with a second command (--omop DIR --date ... --output ...)")
        return _synthetic(args)
    if not (args.omop and args.date and args.output):
        raise InputError("give --omop URL, --date YYYY-MM-DD and --output DIR (or --make-synthetic N DIR)")
    import hipkg  # only when the command runs, not for --help (start-up time)
    from hipkg import cohort  # only when the command runs, not for --help (start-up time)

    cohort.check_date(args.date)
    kg = hipkg.load()
    stop = args.on_error == "fail"
    if args.spark and (args.jobs or args.chunk):
        raise InputError("--jobs and --chunk are for answering here; with --spark, Spark's master and executors decide")
    if args.spark:
        from hipkg import spark  # only when the command runs, not for --help (start-up time)

        summary = spark.cohort(kg.recommender, args.omop, args.date, args.output, args.spark, stop)
    else:
        progress = (lambda n: sys.stderr.write(f"\r{n:,} persons answered")) if sys.stderr.isatty() else None
        summary = cohort.answer(kg.recommender, args.omop, args.date, args.output, stop, args.chunk or 1000,
                                args.jobs or min(os.cpu_count() or 1, 4), progress)
        if progress is not None:
            sys.stderr.write("\n")
    ignored = ", ".join(f"{n:,} {why}" for why, n in summary["records_ignored"].items() if n) or "none"
    print(f"hipkg: {summary['persons_read']:,} persons read, {summary['answered']:,} answered, {summary['errors']:,} skipped "
          f"(their row in cases.parquet says why), {summary['unrecognized_only']:,} naming no code the graph uses; "
          f"{summary['records_read']:,} records read; records not read: {ignored}; tables in {args.output}", file=sys.stderr)
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from hipkg import synthetic  # only when the command runs, not for --help (start-up time)

    count, folder = args.make_synthetic
    try:
        persons = int(count)
    except ValueError:
        raise InputError(f"--make-synthetic {count!r}: expected a whole number of persons, then a folder") from None
    if persons < 1:
        raise InputError(f"--make-synthetic {count!r}: expected at least 1 person")
    rows = synthetic.make(persons, folder, args.date or "2026-06-30", args.seed)
    print(f"hipkg: a synthetic OMOP CDM of {persons:,} persons in {folder} ({', '.join(f'{t} {n:,}' for t, n in rows.items())}); "
          f"no patient data", file=sys.stderr)
    return 0
