"""hipkg benchmark: prints medians and ratios, measured side by side in one run. Asserts nothing.

    python bench/run.py            # full run (about four minutes on 2 cores)
    python bench/run.py --quick    # fewer repetitions; 100,000 situations extrapolated from 10,000

Measures: one situation warm per engine (rdflib, oxigraph; the same situation again, and a new one each call) and for the
plain-Python lower bound (bench/lower_bound.py); `hipkg serve` on loopback (POST /recommend, GET
/queries/knowledge/contraindications and the same query POSTed to /sparql: median of 200 sequential requests on one
keep-alive connection) beside the same work in-process; 1,000 generated situations with kg.recommend_many in one
process; 100,000 with `hipkg recommend --batch` as a whole process (workers, JSON lines written to /dev/null);
`hipkg validate` and `hipkg recommend FILE` as whole processes (median of 5 subprocess runs, cold start including
imports; peak memory is the subprocess's maxrss from os.wait4). Targets (2 cores): one situation warm <= 2 ms median on
the default engine; 100,000 situations <= 60 s; hipkg validate <= 1 s; hipkg recommend FILE <= 1 s as a whole process.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import random
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

SITUATION_FILE = REPO / "examples" / "osteoarthritis-diabetes-hyperglycaemia.json"
CDS_BUNDLE = REPO / "examples" / "fhir" / "osteoarthritis-diabetes-hyperglycaemia.json"
CHUNK = 1000
RDFLIB_BATCH_NOTE = "not measured: rdflib's evaluator did not answer one batch of 100 within 300 s"
SERVE_QUERY = "knowledge/contraindications"
SERVE_WARMUP = 10


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


@contextlib.contextmanager
def running_server(argv: list[str], env: dict | None = None, timeout: float = 300.0):
    """Runs `hipkg serve --port 0 --quiet` (argv) and yields its base URL, read from the first line it prints
    ('hipkg: serving on http://127.0.0.1:PORT/ ...'). However the block ends, the server is stopped: SIGTERM, wait,
    then SIGKILL to its process group (it and its query workers) if it has not stopped within 10 s."""
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=env,
                                start_new_session=True)
        drain = None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            first = proc.stdout.readline().decode("utf-8", "replace") if ready else ""
            found = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", first)
            if not found:
                stderr.seek(0)
                said = first.strip() or stderr.read().decode("utf-8", "replace").strip()[-500:] or f"nothing within {timeout:.0f} s"
                raise RuntimeError(f"hipkg serve did not start on 127.0.0.1: {said}")
            drain = threading.Thread(target=proc.stdout.read, daemon=True)  # --quiet prints nothing more; never block it
            drain.start()
            yield found.group(1)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            if drain is not None:
                drain.join(timeout=5)
            if drain is None or not drain.is_alive():
                proc.stdout.close()


def http_median(base_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str], runs: int,
                warmup: int = SERVE_WARMUP, times: list[float] | None = None) -> tuple[float, bytes]:
    """(median seconds, last body) of `runs` sequential requests after `warmup`, on one keep-alive connection to a
    loopback server; every answer must be 200. A connection the server closed while idle is reopened once. ``times``
    receives every run's seconds (for a p95)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname != "127.0.0.1":
        raise ValueError(f"loopback only, not {parts.hostname}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    last = [b""]

    def once() -> None:
        for attempt in (1, 2):
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
                break
            except ConnectionError:  # includes http.client.RemoteDisconnected
                conn.close()
                if attempt == 2:
                    raise
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {data[:200]!r}")
        last[0] = data

    try:
        median, each = median_time(once, runs, warmup)
    finally:
        conn.close()
    if times is not None:
        times.extend(each)
    return median, last[0]


def measure_serve(kg, server_argv: list[str], situation_data: dict, runs: int, env: dict | None = None) -> dict:
    """Medians (seconds) through a running `hipkg serve` and in-process for the same work: a situation's recommendation
    (POST /recommend; kg.recommend) and the library query SERVE_QUERY (GET /queries/NAME, and its text POSTed to /sparql
    as application/sparql-query; kg.query). Each: `runs` after SERVE_WARMUP warm-up requests or calls. Also the
    answer sizes, to show the server and the library gave the same answer."""
    out: dict = {}
    situation_body = json.dumps(situation_data).encode("utf-8")
    cds_body = cds_request()
    query_text = kg.queries.get(SERVE_QUERY).bind()
    results_json = {"Accept": "application/sparql-results+json"}
    with running_server(server_argv, env) as url:
        out["recommend"], body = http_median(url, "POST", "/recommend", situation_body,
                                             {"Content-Type": "application/json"}, runs)
        out["recommend options"] = len(json.loads(body)["options"])
        out["library"], body = http_median(url, "GET", f"/queries/{SERVE_QUERY}", None, results_json, runs)
        out["library rows"], out["library bytes"] = len(json.loads(body)["results"]["bindings"]), len(body)
        out["sparql"], body = http_median(url, "POST", "/sparql", query_text.encode("utf-8"),
                                          {**results_json, "Content-Type": "application/sparql-query"}, runs)
        out["sparql rows"] = len(json.loads(body)["results"]["bindings"])
        cds_times: list[float] = []
        out["cds"], body = http_median(url, "POST", "/cds-services/hip-injection", json.dumps(cds_body).encode("utf-8"),
                                       {"Content-Type": "application/json"}, runs, times=cds_times)
        out["cds p95"] = sorted(cds_times)[max(0, int(len(cds_times) * 0.95) - 1)]
        out["cds cards"] = len(json.loads(body)["cards"])
    from hipkg.cdshooks import CdsHooks

    cds = CdsHooks(kg)
    out["cds in-process"], _ = median_time(lambda: cds.call("hip-injection", cds_body), runs, SERVE_WARMUP)
    out["kg.recommend"], _ = median_time(lambda: kg.recommend(situation_data), runs, SERVE_WARMUP)
    out["kg.recommend options"] = len(kg.recommend(situation_data).options)
    out["kg.query"], _ = median_time(lambda: kg.query(SERVE_QUERY), runs, SERVE_WARMUP)
    out["kg.query rows"] = len(kg.query(SERVE_QUERY))
    return out


def cds_request() -> dict:
    """A CDS Hooks order-sign call: CDS_BUNDLE's resources as the prefetch, a draft order for an intra-articular
    corticosteroid injection with fluoroscopy guidance."""
    resources = [e["resource"] for e in json.loads(CDS_BUNDLE.read_text())["entry"]]
    kinds = {"conditions": "Condition", "allergies": "AllergyIntolerance", "observations": "Observation", "procedures": "Procedure",
             "plannedProcedures": "ServiceRequest", "medicationStatements": "MedicationStatement", "medicationRequests": "MedicationRequest"}
    prefetch = {key: {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources if r["resourceType"] == kind]}
                for key, kind in kinds.items()}
    prefetch["patient"] = {"resourceType": "Patient", "id": "p1"}
    order = {"resourceType": "ServiceRequest", "id": "draft-1", "status": "draft", "intent": "order", "subject": {"reference": "Patient/p1"},
             "code": {"text": "Intra-articular hip injection"}, "note": [{"text": "corticosteroid, fluoroscopy guidance"}]}
    return {"hook": "order-sign", "hookInstance": "0b6f3c1e-2d4a-4f8e-9a7b-5c3d2e1f0a9b",
            "context": {"userId": "Practitioner/u1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}},
            "prefetch": prefetch}


LOAD_SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"


def measure_load(server_argv: list[str], situation_data: dict, seconds: float, recommenders: int = 16, slow: int = 20) -> dict:
    """POST /recommend from ``recommenders`` threads, each on its own keep-alive connection, while ``slow`` threads send
    a query that runs until the server's time limit to POST /sparql, for ``seconds``, with the server's default
    settings. A recommendation counts as answered when it gets 200 within 2 s of its first attempt, its client
    honouring Retry-After (waiting that long and trying again) on a 503."""
    body = json.dumps(situation_data).encode("utf-8")
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    with running_server(server_argv) as url:
        parts = urllib.parse.urlsplit(url)
        stop = time.monotonic() + seconds

        def connection() -> http.client.HTTPConnection:
            return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

        def slow_client() -> None:
            conn = connection()
            while time.monotonic() < stop:
                try:
                    conn.request("POST", "/sparql", body=LOAD_SLOW.encode(), headers={"Content-Type": "application/sparql-query"})
                    response = conn.getresponse()
                    response.read()
                    if response.status == 503:
                        time.sleep(float(response.getheader("Retry-After") or 1))
                except (ConnectionError, OSError):
                    conn.close()
                    conn = connection()

        def recommend_client() -> None:
            conn = connection()
            while time.monotonic() < stop:
                first = time.monotonic()
                status = 0
                while time.monotonic() - first < 2.0:
                    try:
                        conn.request("POST", "/recommend", body=body, headers={"Content-Type": "application/json"})
                        response = conn.getresponse()
                        response.read()
                        status = response.status
                    except (ConnectionError, OSError):
                        conn.close()
                        conn = connection()
                        continue
                    if status != 503:
                        break
                    time.sleep(float(response.getheader("Retry-After") or 1))
                took = time.monotonic() - first
                with lock:
                    if status == 200 and took <= 2.0:
                        latencies.append(took)
                    else:
                        failures[0] += 1

        threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(slow)]
        threads += [threading.Thread(target=recommend_client, daemon=True) for _ in range(recommenders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(seconds + 30)
    latencies.sort()
    total = len(latencies) + failures[0]
    return {"answered": len(latencies) / total if total else 0.0, "requests": total,
            "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
            "p95": latencies[int(len(latencies) * 0.95)] if latencies else float("nan")}


def generate(kg, n: int, seed: int = 0) -> list[dict]:
    """n situations from the mapping table's codes and hipkg's conditions: 1-3 findings, an allergy in one of four."""
    rng = random.Random(seed)
    mapped = sorted({m.object_id for m in kg.mapping_set.mappings if m.object_id.split(":")[0] in ("ICD10CM", "SNOMEDCT")})
    allergy_codes = sorted({m.object_id for m in kg.mapping_set.mappings if m.object_id.split(":")[0] == "RXNORM"})
    rows = kg.engine.execute("""PREFIX hipkg: <https://w3id.org/hipkg/>
        SELECT DISTINCT ?concept ?kind WHERE {
          { ?rule hipkg:triggeredBy ?concept BIND("finding" AS ?kind) } UNION { ?a hipkg:consideredWhen ?concept BIND("finding" AS ?kind) }
          UNION { ?rule hipkg:triggeredByAllergyTo ?concept BIND("allergy" AS ?kind) }
          FILTER NOT EXISTS { ?concept a hipkg:Policy } }""").rows  # a policy is no finding: a situation names it as "policy"
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
    from hipkg.situations import from_dict
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
    fresh = iter([from_dict(kg.vocabulary, s) for s in generate(kg, 2000, seed=1)])  # none seen before: recommend/status runs for most
    one = {}
    for name, engine_kg in kgs.items():
        situation = from_dict(engine_kg.vocabulary, situation_data)
        runs = (3 if quick else 7) if name == "rdflib" else (100 if quick else 500)
        one[name], _ = median_time(lambda kg=engine_kg, s=situation: kg.recommend(s), runs)
    one["new"], _ = median_time(lambda: kg.recommend(next(fresh)), 500 if quick else 1500)
    rules = Rules(kg)
    situation = from_dict(kg.vocabulary, situation_data)
    goal_iris = {k: str(v) for k, v in kg.vocabulary.purposes.items()}
    one["lower bound"], _ = median_time(lambda: rules.evaluate(situation, goal_iris[situation.goal]), 2000 if quick else 10000)
    lines.append(("one situation, warm: oxigraph (default), a new situation each call", fmt_s(one["new"]), "<= 2 ms",
                  f"{one['new'] / one['lower bound']:.0f}x lower bound; generated, none seen before"))
    lines.append(("one situation, warm: oxigraph, the same situation again", fmt_s(one["oxigraph"]), "<= 2 ms",
                  f"{one['oxigraph'] / one['lower bound']:.0f}x lower bound; {SITUATION_FILE.name}"))
    lines.append(("one situation, warm: rdflib, the same situation again", fmt_s(one["rdflib"]), "", f"{one['rdflib'] / one['oxigraph']:.0f}x oxigraph"))
    lines.append(("one situation, warm: plain-Python lower bound", fmt_s(one["lower bound"]), "", "bench/lower_bound.py"))

    # ------------------------------------------------------------------ hipkg serve on loopback, beside the same work in-process
    # Before the 100,000 situations are made, so that the garbage collector is not walking them while requests are timed.
    serve_runs = 50 if quick else 200
    served = measure_serve(kg, [hipkg_bin, "serve", "--port", "0", "--quiet"], situation_data, serve_runs)
    each = f"median of {serve_runs} after {SERVE_WARMUP} warm-up"
    lines.append(("hipkg serve: POST /recommend (HTTP on 127.0.0.1, one keep-alive connection)", fmt_s(served["recommend"]), "",
                  f"{served['recommend'] / served['kg.recommend']:.1f}x in-process; {each} requests; {SITUATION_FILE.name}; "
                  f"{served['recommend options']} options, JSON out"))
    lines.append(("in-process: kg.recommend(the same situation as a dict), oxigraph", fmt_s(served["kg.recommend"]), "",
                  f"{each} calls; {served['kg.recommend options']} options, not JSON"))
    lines.append((f"hipkg serve: GET /queries/{SERVE_QUERY}", fmt_s(served["library"]), "",
                  f"{served['library'] / served['kg.query']:.1f}x in-process; {each} requests; {served['library rows']} rows, "
                  f"{served['library bytes'] / 1024:.0f} KiB of SPARQL JSON"))
    lines.append(("hipkg serve: POST /sparql, the same query text (application/sparql-query)", fmt_s(served["sparql"]), "",
                  f"{served['sparql'] / served['kg.query']:.1f}x in-process; {each} requests; {served['sparql rows']} rows"))
    lines.append((f"in-process: kg.query(\"{SERVE_QUERY}\"), oxigraph", fmt_s(served["kg.query"]), "",
                  f"{each} calls; {served['kg.query rows']} rows, not serialised"))
    lines.append(("hipkg serve: POST /cds-services/hip-injection (CDS Hooks order-sign)", fmt_s(served["cds"]), "<= 50 ms",
                  f"p95 {fmt_s(served['cds p95'])} (target <= 150 ms); {served['cds'] / served['cds in-process']:.1f}x in-process; "
                  f"{each} requests; prefetch of {CDS_BUNDLE.name} "
                  f"(FHIR, checked with fhir.resources), a draft order; {served['cds cards']} cards"))
    lines.append(("in-process: CdsHooks(kg).call(the same request)", fmt_s(served["cds in-process"]), "", f"{each} calls; cards as dicts"))

    load = measure_load([hipkg_bin, "serve", "--port", "0", "--quiet"], situation_data, 5 if quick else 15)
    lines.append(("hipkg serve under load: POST /recommend from 16 threads beside 20 slow POST /sparql",
                  f"{load['answered']:.1%} answered", ">= 99% within 2 s",
                  f"{load['requests']:,} recommendations; p50 {fmt_s(load['p50'])}, p95 {fmt_s(load['p95'])}; default settings; "
                  "clients honour Retry-After"))

    # ------------------------------------------------------------------ batches
    raw = generate(kg, 100_000)
    situations = [from_dict(kg.vocabulary, s, f"situation {i}") for i, s in enumerate(raw)]
    sample = situations[:1000]
    answers = kg.recommend_many(sample)  # also the warm-up
    agree = 0
    for s, rec in zip(sample, answers):
        status, reasons, advice, checks = rules.evaluate(s, goal_iris[s.goal])
        same = ({o.id: o.status for o in rec.options} == {curie(k): v for k, v in status.items()}
                and {(o.id, r.id, r.kind, r.because, r.rule) for o in rec.options for r in o.reasons}
                == {(curie(o), curie(r), k, b, curie(a) if a else None) for o, r, k, b, a in reasons}
                and {a.id: set(a.because) for a in rec.advice} == {curie(k): v for k, v in advice.items()}
                and {(q.check, q.id, b) for q in rec.questions for b in q.because} == {(curie(c), curie(r), b) for c, r, b in checks})
        agree += same
    batch_1k, _ = median_time(lambda: kg.recommend_many(situations[CHUNK:2 * CHUNK]), 1 if quick else 3, warmup=0)
    lb_1k, _ = median_time(lambda: [rules.evaluate(s, goal_iris[s.goal]) for s in situations[:CHUNK]], 3 if quick else 5)
    lines.append(("1,000 situations: kg.recommend_many, oxigraph, one process", fmt_s(batch_1k), "",
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
    from hipkg.store import bundle_key, cache_dir

    nquads = cache_dir() / f"graph-{bundle_key()}.nq"
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
