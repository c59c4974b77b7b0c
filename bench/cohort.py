"""hipkg cohort benchmark (#18): prints medians and ratios, measured side by side in one run. Asserts nothing.

    python bench/cohort.py                          # 1,000,000 situations, a 100,000-person CDM, Spark on 1,000,000
    python bench/cohort.py --persons 100000 --spark-persons 100000   # smaller (figures say what they were measured on)

Measures, on the synthetic CDM (hipkg.synthetic; the same persons as JSON situations): N situations through
`hipkg recommend --batch FILE.jsonl --format parquet` as a whole process (workers; wall time, peak memory of the largest
process, bytes on disk per situation); `hipkg cohort` on a 100,000-person DuckDB CDM, reading included; Spark local[2]
on the same situations as a Parquet file of (case, situation JSON), its start-up reported separately, beside the
in-process figure for the same number; one situation warm through kg.recommend; and, in the same run, the plain-Python
lower bound (bench/lower_bound.py: the rules of the findings, allergies and medications only, no dates, no output).
Targets (2 cores): 1,000,000 to Parquet <= 120 s and <= 2 GB peak; cohort of 100,000 <= 60 s; Spark within 2x of
in-process; <= 1 KB a situation on disk; one situation warm <= 10x the lower bound.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import fmt_s, median_time, run_process  # noqa: E402 - bench/ is a folder of scripts, not a package


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=1_000_000, help="situations to Parquet (default: 1,000,000)")
    parser.add_argument("--cohort-persons", type=int, default=100_000, help="persons of the DuckDB CDM (default: 100,000)")
    parser.add_argument("--spark-persons", type=int, default=1_000_000, help="situations on Spark local[2] (0: skip)")
    args = parser.parse_args()
    import hipkg
    import hipkg.cli
    from hipkg import situations as S
    from lower_bound import Rules, _Situation

    hipkg_bin = str(Path(sys.executable).with_name("hipkg"))
    jobs = min(os.cpu_count() or 1, 4)
    lines: list[tuple[str, str, str, str]] = []
    kg = hipkg.load()
    rules = Rules(kg)
    tmp = Path(tempfile.mkdtemp(prefix="hipkg-bench-"))
    try:
        start = time.perf_counter()
        assert hipkg.cli.main(["cohort", "--make-synthetic", str(max(args.persons, args.spark_persons)), str(tmp / "cdm")]) == 0
        lines.append((f"synthetic CDM of {max(args.persons, args.spark_persons):,} persons (not a target)", fmt_s(time.perf_counter() - start), "", ""))
        every = (tmp / "cdm" / "situations.jsonl").read_text().splitlines()

        def subset(n: int) -> Path:
            path = tmp / f"{n}.jsonl"
            if not path.exists():
                path.write_text("\n".join(every[:n]) + "\n")
            return path

        # lower bound: the same situations' codes through dict rules, in this process
        given = [json.loads(line) for line in every[:args.persons]]
        start = time.perf_counter()
        for g in given:
            s = _Situation(g)
            rules.evaluate(s, rules.goals[s.goal])
        lower = time.perf_counter() - start
        del given

        out = tmp / "out"
        wall, rss, code = run_process([hipkg_bin, "recommend", "--batch", str(subset(args.persons)), "--format", "parquet",
                                       "--output", str(out), "--jobs", str(jobs)])
        size = sum(p.stat().st_size for p in out.glob("*.parquet"))
        lines.append((f"{args.persons:,} situations to Parquet, whole process, {jobs} workers", fmt_s(wall),
                      "<= 120 s (1,000,000)", f"{args.persons / wall:,.0f}/s; peak {rss / 1024:,.0f} MiB (largest process; "
                      f"<= 2 GB); {wall / lower:.1f}x lower bound; exit {code}"))
        lines.append(("  on disk, every table", f"{size / args.persons:,.0f} B", "<= 1 KB a situation", f"{size / 2**20:,.1f} MiB in all"))
        lines.append((f"{args.persons:,} situations: plain-Python lower bound, one process", fmt_s(lower), "", "codes only; no dates, no output"))
        shutil.rmtree(out)

        assert hipkg.cli.main(["cohort", "--make-synthetic", str(args.cohort_persons), str(tmp / "cdm-cohort")]) == 0
        wall, rss, code = run_process([hipkg_bin, "cohort", "--omop", f"duckdb://{tmp / 'cdm-cohort' / 'cdm.duckdb'}", "--date", "2026-06-30",
                                       "--output", str(tmp / "cohort"), "--jobs", str(jobs)])
        lines.append((f"hipkg cohort, {args.cohort_persons:,}-person DuckDB CDM, whole process", fmt_s(wall), "<= 60 s (100,000)",
                      f"reading the CDM included; peak {rss / 1024:,.0f} MiB; exit {code}"))

        if args.spark_persons:
            import pyarrow as pa
            import pyarrow.parquet as pq
            from hipkg import spark as hs

            rows = [json.loads(line) for line in every[:args.spark_persons]]
            pq.write_table(pa.table({"case": [r["case"] for r in rows], "situation": [json.dumps(r) for r in rows]}), tmp / "spark-in.parquet")
            del rows
            start = time.perf_counter()
            session = hs.session("local[2]", "hipkg bench")
            session.range(1).count()
            startup = time.perf_counter() - start
            start = time.perf_counter()
            hs.write_parquet(session.read.parquet(str(tmp / "spark-in.parquet")), str(tmp / "spark"), recommender=kg.recommender)
            spark_wall = time.perf_counter() - start
            session.stop()
            local, _, _ = (run_process([hipkg_bin, "recommend", "--batch", str(subset(args.spark_persons)), "--format", "parquet",
                                        "--output", str(tmp / "local"), "--jobs", str(jobs)]))
            lines.append((f"{args.spark_persons:,} situations on Spark local[2]", fmt_s(spark_wall), "<= 2x in-process",
                          f"{spark_wall / local:.2f}x the in-process {fmt_s(local)} measured beside it; start-up apart"))
            lines.append(("  Spark start-up (session, first job)", fmt_s(startup), "", ""))

        first = {k: v for k, v in json.loads(every[0]).items() if k != "case"}
        situation = S.from_dict(kg.vocabulary, first)
        warm, _ = median_time(lambda: kg.recommend(situation), 500)
        plain = _Situation(first)
        bound, _ = median_time(lambda: rules.evaluate(plain, rules.goals[plain.goal]), 5000)
        lines.append(("one situation warm, kg.recommend", f"{warm * 1e3:.2f} ms", "<= 10x lower bound",
                      f"{warm / bound:.1f}x the lower bound's {bound * 1e6:.0f} us"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    widths = [max(len(r[i]) for r in lines) for i in range(3)]
    print()
    for r in lines:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
