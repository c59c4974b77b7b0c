"""hipkg benchmark: prints medians and ratios, measured side by side in one run. Asserts nothing.

    python bench/run.py            # full run (about four minutes on 2 cores)
    python bench/run.py --quick    # fewer repetitions; 100,000 situations extrapolated from 10,000

Measures: one situation warm per engine (rdflib, oxigraph; the same situation again, and a new one each call) and for the
plain-Python lower bound (bench/lower_bound.py); 1,000 generated situations with hipkg.recommending.recommend_many in
one process; 100,000 with `hipkg recommend --batch` as a whole process (workers, JSON lines written to /dev/null);
`hipkg validate` and `hipkg recommend FILE` as whole processes (median of 5 subprocess runs, cold start including
imports; peak memory is the subprocess's maxrss from os.wait4). Targets (2 cores): one situation warm <= 2 ms median on
the default engine; 100,000 situations <= 60 s; hipkg validate <= 1 s; hipkg recommend FILE <= 1 s as a whole process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

SITUATION_FILE = REPO / "examples" / "osteoarthritis-diabetes-hyperglycaemia.json"
CHUNK = 1000
RDFLIB_BATCH_NOTE = "not measured: rdflib's evaluator did not answer one batch of 100 within 300 s"


def median_time(fn, runs: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


#: Runs one command and reports its wall time and peak RSS. A tiny launcher process spawns it: Linux carries the RSS
#: high-water mark of the spawning process's memory into the child's maxrss, so spawning from this (large) process
#: would report this process's size for every child.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status)]))
"""


def run_process(argv: list[str], env: dict | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in KiB, exit code) of one subprocess; its output goes to /dev/null."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, *argv], capture_output=True, text=True, cwd=REPO,
                         env=env, check=True).stdout
    elapsed, maxrss, code = json.loads(out)
    return elapsed, maxrss, code


def process_stats(argv: list[str], runs: int, env: dict | None = None) -> dict:
    results = [run_process(argv, env) for _ in range(runs)]
    return {"median": statistics.median(r[0] for r in results), "min": min(r[0] for r in results),
            "maxrss_mib": max(r[1] for r in results) / 1024, "codes": sorted({r[2] for r in results}), "runs": runs}


def generate(kg, n: int, seed: int = 0) -> list[dict]:
    """n situations from the mapping table's codes and hipkg's conditions: 1-3 findings, an allergy in one of four."""
    rng = random.Random(seed)
    mapped = sorted({m.object_id for m in kg.mapping_set.mappings if m.object_id.split(":")[0] in ("ICD10CM", "SNOMEDCT")})
    allergy_codes = sorted({m.object_id for m in kg.mapping_set.mappings if m.object_id.split(":")[0] == "RXNORM"})
    rows = kg.engine.execute("""PREFIX hipkg: <https://w3id.org/hipkg/>
        SELECT DISTINCT ?concept ?kind WHERE {
          { ?rule hipkg:triggeredBy ?concept BIND("finding" AS ?kind) } UNION { ?a hipkg:consideredWhen ?concept BIND("finding" AS ?kind) }
          UNION { ?rule hipkg:triggeredByAllergyTo ?concept BIND("allergy" AS ?kind) } }""").rows
    conditions = sorted("hipkg:" + str(c)[len("https://w3id.org/hipkg/"):] for c, k in rows if str(k) == "finding")
    allergy_codes += sorted("hipkg:" + str(c)[len("https://w3id.org/hipkg/"):] for c, k in rows if str(k) == "allergy")
    from hipkg.codes import ALLERGY_PREFIXES, FINDING_PREFIXES, parse_code
    from hipkg.errors import InputError

    def valid(code: str, prefixes: dict) -> bool:  # the table also holds ranges such as ICD10CM:L20-L30
        try:
            parse_code(code, prefixes, "code")
            return True
        except InputError:
            return False

    findings = [c for c in mapped + conditions if valid(c, FINDING_PREFIXES)]
    allergy_codes = [c for c in allergy_codes if valid(c, ALLERGY_PREFIXES)]
    goal_names = ["therapeutic", "therapeutic", "therapeutic", "diagnostic-and-therapeutic"]
    out = []
    for _ in range(n):
        s = {"findings": rng.sample(findings, rng.randint(1, 3)), "goal": rng.choice(goal_names)}
        if rng.random() < 0.25:
            s["allergies"] = [rng.choice(allergy_codes)]
        out.append(s)
    return out


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; extrapolate 100,000 situations from 10 chunks")
    args = parser.parse_args()
    quick = args.quick

    import hipkg
    from hipkg.namespaces import curie
    from hipkg.recommending import recommend_many
    from hipkg.situations import from_dict, goals
    from lower_bound import Rules

    hipkg_bin = str(Path(sys.executable).parent / "hipkg")
    print(f"hipkg {hipkg.__version__}  python {platform.python_version()}  {os.cpu_count()} cores  {platform.machine()}"
          f"  {'--quick' if quick else 'full run'}")
    lines: list[tuple[str, str, str, str]] = []  # (what, measured, target, ratio / note)

    # ------------------------------------------------------------------ machine speed (this VM's speed varies by run)
    def reference() -> None:
        total = 0
        for i in range(200_000):
            total += i * i % 7

    ref, _ = median_time(reference, 5 if quick else 11)
    lines.append(("reference: a fixed pure-Python loop", fmt_s(ref), "",
                  "machine speed varies between runs; this loop shows only part of it, the lower-bound ratios more"))

    # ------------------------------------------------------------------ one situation, warm
    situation_data = json.loads(SITUATION_FILE.read_text())
    kgs = {name: hipkg.load(engine=name) for name in ("oxigraph", "rdflib")}
    kg = kgs["oxigraph"]
    # Situations for the single-situation rows only (seed 1): the 100,000 are made afterwards, so that the garbage
    # collector is not walking them while a single situation is timed.
    fresh = iter([from_dict(kg, s) for s in generate(kg, 2000, seed=1)])  # none seen before: recommend/status runs for most
    one = {}
    for name, engine_kg in kgs.items():
        situation = from_dict(engine_kg, situation_data)
        runs = (3 if quick else 7) if name == "rdflib" else (100 if quick else 500)
        one[name], _ = median_time(lambda kg=engine_kg, s=situation: kg.recommend(s), runs)
    one["new"], _ = median_time(lambda: kg.recommend(next(fresh)), 500 if quick else 1500)
    rules = Rules(kg)
    situation = from_dict(kg, situation_data)
    goal_iris = {k: str(v) for k, v in goals(kg).items()}
    one["lower bound"], _ = median_time(lambda: rules.evaluate(situation, goal_iris[situation.goal]), 2000 if quick else 10000)
    lines.append(("one situation, warm: oxigraph (default), a new situation each call", fmt_s(one["new"]), "<= 2 ms",
                  f"{one['new'] / one['lower bound']:.0f}x lower bound; generated, none seen before"))
    lines.append(("one situation, warm: oxigraph, the same situation again", fmt_s(one["oxigraph"]), "<= 2 ms",
                  f"{one['oxigraph'] / one['lower bound']:.0f}x lower bound; {SITUATION_FILE.name}"))
    lines.append(("one situation, warm: rdflib, the same situation again", fmt_s(one["rdflib"]), "", f"{one['rdflib'] / one['oxigraph']:.0f}x oxigraph"))
    lines.append(("one situation, warm: plain-Python lower bound", fmt_s(one["lower bound"]), "", "bench/lower_bound.py"))

    # ------------------------------------------------------------------ batches
    raw = generate(kg, 100_000)
    situations = [from_dict(kg, s, f"situation {i}") for i, s in enumerate(raw)]
    sample = situations[:1000]
    answers = recommend_many(kg, sample)  # also the warm-up
    agree = 0
    for s, rec in zip(sample, answers):
        status, reasons, advice = rules.evaluate(s, goal_iris[s.goal])
        same = ({o.id: o.status for o in rec.options} == {curie(k): v for k, v in status.items()}
                and {(o.id, r.id, r.kind, r.because) for o in rec.options for r in o.reasons}
                == {(curie(o), curie(r), k, b) for o, r, k, b in reasons}
                and {a.id: set(a.because) for a in rec.advice} == {curie(k): v for k, v in advice.items()})
        agree += same
    batch_1k, _ = median_time(lambda: recommend_many(kg, situations[CHUNK:2 * CHUNK]), 1 if quick else 3, warmup=0)
    lb_1k, _ = median_time(lambda: [rules.evaluate(s, goal_iris[s.goal]) for s in situations[:CHUNK]], 3 if quick else 5)
    lines.append(("1,000 situations: recommend_many, oxigraph, one process", fmt_s(batch_1k), "",
                  f"{batch_1k / CHUNK * 1e3:.2f} ms each; {batch_1k / lb_1k:.0f}x lower bound; answers, not yet JSON"))
    lines.append(("1,000 situations: rdflib", "-", "", RDFLIB_BATCH_NOTE))
    lines.append(("1,000 situations: plain-Python lower bound", fmt_s(lb_1k), "", f"agrees with hipkg on {agree}/{len(sample)} situations"))

    with tempfile.TemporaryDirectory() as tmp:
        total = 10_000 if quick else len(raw)
        path = Path(tmp) / "situations.jsonl"
        path.write_text("".join(json.dumps(s) + "\n" for s in raw[:total]))
        small = Path(tmp) / "10k.jsonl"
        small.write_text("".join(json.dumps(s) + "\n" for s in raw[:10_000]))
        jobs = min(os.cpu_count() or 1, 4)
        whole = run_process([hipkg_bin, "recommend", "--batch", str(path), "--jobs", str(jobs)])
        single = run_process([hipkg_bin, "recommend", "--batch", str(small), "--jobs", "1"])
    scale = len(raw) / total
    how = "measured" if scale == 1 else f"EXTRAPOLATED x{scale:.0f} from {total:,} situations ({fmt_s(whole[0])})"
    lines.append((f"100,000 situations: hipkg recommend --batch, whole process, {jobs} workers", fmt_s(whole[0] * scale), "<= 60 s",
                  f"{how}; JSON lines out; peak {whole[1] / 1024:.0f} MiB per process; exit {whole[2]}"))
    lines.append(("10,000 situations: hipkg recommend --batch --jobs 1, whole process", fmt_s(single[0]), "",
                  f"{single[0] / 10_000 * 1e3:.2f} ms each, JSON lines out; peak {single[1] / 1024:.0f} MiB; exit {single[2]}"))
    start = time.perf_counter()
    for s in situations:
        rules.evaluate(s, goal_iris[s.goal])
    lb_100k = time.perf_counter() - start
    lines.append(("100,000 situations: plain-Python lower bound, one process", fmt_s(lb_100k), "", "rules only, no JSON"))

    # ------------------------------------------------------------------ whole processes
    runs = 5
    python = sys.executable
    validate = process_stats([hipkg_bin, "validate"], runs)
    recommend = process_stats([hipkg_bin, "recommend", str(SITUATION_FILE)], runs)
    recommend_json = process_stats([hipkg_bin, "recommend", str(SITUATION_FILE), "--format", "json"], runs)
    recommend_rdflib = process_stats([hipkg_bin, "recommend", str(SITUATION_FILE), "--engine", "rdflib"], 1 if quick else 3)
    with tempfile.TemporaryDirectory() as cache:
        fresh = process_stats([hipkg_bin, "recommend", str(SITUATION_FILE)], 1, {**os.environ, "HIPKG_CACHE_DIR": cache})
    baseline = process_stats([python, "-c", "pass"], runs)
    imports = process_stats([python, "-c", "import hipkg, hipkg.cli"], runs)
    from hipkg.graph import _bundle_key, _cache_dir

    nquads = _cache_dir() / f"graph-{_bundle_key()}.nq"
    lower = process_stats([python, str(BENCH / "lower_bound.py"), str(nquads), str(SITUATION_FILE)], runs)

    def proc(label: str, stats: dict, target: str = "", extra: str = "") -> None:
        codes = "" if stats["codes"] == [0] else f"; exit codes {stats['codes']}"
        lines.append((label, fmt_s(stats["median"]), target,
                      f"peak {stats['maxrss_mib']:.0f} MiB; {stats['median'] / lower['median']:.1f}x lower bound{codes}" + (f"; {extra}" if extra else "")))

    proc(f"hipkg validate (process, median of {runs})", validate, "<= 1 s")
    proc(f"hipkg recommend FILE (process, median of {runs})", recommend, "<= 1 s")
    proc(f"hipkg recommend FILE --format json (process, median of {runs})", recommend_json)
    proc(f"hipkg recommend FILE --engine rdflib (process, median of {recommend_rdflib['runs']})", recommend_rdflib)
    proc("hipkg recommend FILE, empty graph cache (process, 1 run)", fresh, "", "builds the graph first")
    proc(f"python -c 'import hipkg, hipkg.cli' (process, median of {runs})", imports)
    proc(f"python -c pass (process, median of {runs})", baseline)
    proc(f"plain-Python lower bound process (median of {runs})", lower, "", "pyoxigraph load + dict rules + JSON out")

    widths = [max(len(r[i]) for r in lines + [("what", "median", "target", "ratio / note")]) for i in range(3)]
    header = ("what", "median", "target", "ratio / note")
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)) + "  " + header[3])
    print("  ".join("-" * w for w in widths) + "  " + "-" * 12)
    for r in lines:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[3])
    print(f"\nsituation: {SITUATION_FILE.relative_to(REPO)}; generated situations: seed 0, 1-3 findings from "
          "the mapping table's ICD-10-CM/SNOMED CT codes and hipkg's triggering conditions, an allergy in one of four.")
    print("whole processes run with the graph cache warm (~/.cache/hipkg or $HIPKG_CACHE_DIR) unless said otherwise.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
