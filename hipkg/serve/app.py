"""The ASGI application: SPARQL 1.1 Protocol endpoint, JSON API, web pages, and the guards around them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hipkg import DISCLAIMER, __version__
from hipkg.codes import ALLERGY_PREFIXES, FINDING_PREFIXES, parse_code
from hipkg.errors import InputError
from hipkg.serve import results, web
from hipkg.serve.config import Limits
from hipkg.serve.pool import PoolBusy, QueryTimeout, WorkerFailed, WorkerPool

STATIC = Path(__file__).resolve().parent / "static"
MAX_CODES = 50
SITUATION_KEYS = ("findings", "allergies", "goal")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


# ------------------------------------------------------------------------------------------------ guards (ASGI middleware)


class Guard:
    """Refuses oversized requests before any route runs (413 for a declared body, 414 for a long URL) and adds
    security headers to every response."""

    def __init__(self, app: Any, max_request_bytes: int) -> None:
        self.app, self.max = app, max_request_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status, message = 0, ""
        if len(scope.get("query_string", b"")) > self.max:
            status, message = 414, f"request URL longer than the {self.max}-byte limit; POST the query instead"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    status, message = 400, "invalid Content-Length"
                else:
                    if declared > self.max:
                        status, message = 413, f"request body larger than the {self.max}-byte limit"
        if status:
            response = PlainTextResponse(message + "\n", status_code=status, headers={"Connection": "close"})
            await response(scope, receive, self._secure(send))
            return
        await self.app(scope, receive, self._secure(send))

    @staticmethod
    def _secure(send: Any) -> Any:
        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                                  b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped


async def read_body(request: Request, cap: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise ApiError(413, f"request body larger than the {cap}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------------------------------------ situation checks


def _code_problem(message: str) -> str:
    """What parse_code says is wrong, without the value it quotes."""
    if "check digit" in message:
        return "not a valid SNOMED CT concept identifier (check digit or partition fails)"
    if "; expected " in message:
        return "expected " + message.rsplit("; expected ", 1)[1]
    return "expected PREFIX:CODE such as ICD10CM:M16.11"


def check_situation(kg: Any, goals: list[str], data: Any) -> dict[str, Any]:
    """Validate a situation with messages that name the position of a bad value, never the value."""
    if not isinstance(data, dict):
        raise ApiError(400, "expected a JSON object with keys findings, allergies, goal")
    if set(data) - set(SITUATION_KEYS):
        raise ApiError(400, "unknown key in the situation; expected only findings, allergies, goal")
    for key, prefixes, example, required in (("findings", FINDING_PREFIXES, "ICD10CM:M16.11", True),
                                              ("allergies", ALLERGY_PREFIXES, "RXNORM:6387", False)):
        items = data.get(key, [] if not required else None)
        if not isinstance(items, list) or (required and not items):
            need = "a non-empty list" if required else "a list"
            raise ApiError(400, f"'{key}' must be {need} of codes such as \"{example}\"")
        if len(items) > MAX_CODES:
            raise ApiError(400, f"'{key}' has more than {MAX_CODES} codes")
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise ApiError(400, f"{key}[{i}] is not a string; expected a code such as \"{example}\"")
            try:
                parse_code(item, prefixes, key)
            except InputError as exc:
                raise ApiError(400, f"{key}[{i}] is not a valid code: {_code_problem(str(exc))}") from None
    if "goal" in data and data["goal"] not in goals:
        raise ApiError(400, f"unknown goal; expected one of {', '.join(goals)}")
    return data


def redact(message: str, payload: Any) -> str:
    """Remove every string of ``payload`` (and its repr) from ``message``; keep it short."""
    leaves: list[str] = []

    def walk(node: Any) -> None:
        leaves.append(repr(node))
        if isinstance(node, dict):
            for k, v in node.items():
                walk(k)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            leaves.append(node)

    walk(payload)
    for leaf in sorted(set(leaves), key=len, reverse=True):
        if len(leaf) >= 3:
            message = message.replace(leaf, "\u2026")
    return message[:300]


# ------------------------------------------------------------------------------------------------ the application


class Service:
    """What every route needs: the graph (read-only), the concept index, the worker pool and the limits."""

    def __init__(self, kg: Any, pool: WorkerPool, limits: Limits, base_url: str) -> None:
        self.kg, self.pool, self.limits, self.base_url = kg, pool, limits, base_url
        self.index = web.ConceptIndex(kg)
        self.goals = self.index.goals
        self.active = 0
        self.limiter = anyio.CapacityLimiter(limits.max_concurrent)
        self.triples = len(kg.data)

    async def run(self, job: tuple) -> tuple:
        """Run a job on a worker under the concurrency cap and the time limit; returns an ("ok", ...) reply."""
        if self.active >= self.limits.max_concurrent:
            raise ApiError(503, f"the server is answering {self.limits.max_concurrent} queries already; try again shortly",
                           {"Retry-After": "1"})
        self.active += 1
        try:
            reply = await anyio.to_thread.run_sync(self.pool.run, job, self.limits.timeout, self.limits.timeout, limiter=self.limiter)
        except PoolBusy:
            raise ApiError(503, "no query worker became free in time; try again shortly", {"Retry-After": "1"}) from None
        except QueryTimeout:
            raise ApiError(504, f"the query ran longer than the {self.limits.timeout:g} s limit and was stopped") from None
        except WorkerFailed:
            raise ApiError(500, "the query worker failed (it has been replaced)") from None
        finally:
            self.active -= 1
        if reply[0] == "error":
            raise ApiError(reply[1], reply[2])
        return reply

    # -------------------------------------------------------------------- SPARQL 1.1 Protocol

    async def sparql(self, request: Request) -> Response:
        params: list[tuple[str, str]] = list(request.query_params.multi_items())
        text: str | None = None
        if request.method == "POST":
            ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype == "application/sparql-update":
                raise ApiError(403, "updates are refused: this endpoint is read-only")
            body = await read_body(request, self.limits.max_request_bytes)
            try:
                decoded = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(400, "the request body is not UTF-8") from None
            if ctype == "application/x-www-form-urlencoded":
                params += parse_qsl(decoded, keep_blank_values=True)
            elif ctype == "application/sparql-query":
                text = decoded
            else:
                raise ApiError(415, "unsupported Content-Type; send application/x-www-form-urlencoded or application/sparql-query")
        names = [k for k, _ in params]
        if "update" in names:
            raise ApiError(403, "updates are refused: this endpoint is read-only")
        if "default-graph-uri" in names or "named-graph-uri" in names:
            raise ApiError(400, "default-graph-uri and named-graph-uri are refused: the dataset is fixed and nothing is ever fetched")
        queries = [v for k, v in params if k == "query"]
        if text is not None:
            queries.append(text)
        if len(queries) > 1:
            raise ApiError(400, "give exactly one query")
        if not queries:
            if request.method == "POST":
                raise ApiError(400, "no query given: send it as the 'query' parameter or an application/sparql-query body")
            return self.service_description(request)
        accept = results.parse_accept(request.headers.get("accept"))
        return self._answer(await self.run(("sparql", queries[0], accept, self.limits.max_rows, self.limits.max_bytes)))

    @staticmethod
    def _answer(reply: tuple) -> Response:
        _, media, body, cut = reply
        headers = {"Vary": "Accept"}
        if cut:
            headers["Hipkg-Truncated"] = cut
        return Response(body, media_type=results.content_type(media), headers=headers)

    def service_description(self, request: Request) -> Response:
        from rdflib import BNode, Graph, Literal, Namespace, URIRef
        from rdflib.namespace import RDF, RDFS, VOID, XSD

        sd = Namespace("http://www.w3.org/ns/sparql-service-description#")
        formats = Namespace("http://www.w3.org/ns/formats/")
        g = Graph()
        g.bind("sd", sd)
        g.bind("formats", formats)
        g.bind("void", VOID)
        service, dataset, graph = BNode(), BNode(), BNode()
        g.add((service, RDF.type, sd.Service))
        g.add((service, sd.endpoint, URIRef(self.base_url + "sparql")))
        g.add((service, sd.supportedLanguage, sd.SPARQL11Query))
        for f in ("SPARQL_Results_JSON", "SPARQL_Results_XML", "SPARQL_Results_CSV", "SPARQL_Results_TSV", "Turtle", "N-Triples", "JSON-LD", "RDF_XML"):
            g.add((service, sd.resultFormat, formats[f]))
        g.add((service, sd.defaultDataset, dataset))
        g.add((dataset, RDF.type, sd.Dataset))
        g.add((dataset, sd.defaultGraph, graph))
        g.add((graph, RDF.type, sd.Graph))
        g.add((graph, VOID.triples, Literal(self.triples, datatype=XSD.integer)))
        lim = self.limits
        g.add((service, RDFS.comment, Literal(
            f"hipkg {__version__}: therapeutic hip injections. Read-only (updates get 403); SERVICE, FROM, FROM NAMED, "
            f"default-graph-uri and named-graph-uri are refused. Limits: {lim.timeout:g} s per query, {lim.max_rows} rows or "
            f"triples, {lim.max_bytes} bytes per answer (a cut answer carries the Hipkg-Truncated header), "
            f"{lim.max_request_bytes}-byte requests, {lim.max_concurrent} queries at once. The hipkg, rdf, rdfs, owl, skos, "
            f"prov, dcterms, sh and xsd prefixes are predeclared. {DISCLAIMER}", lang="en")))
        accept = results.parse_accept(request.headers.get("accept"))
        media = results.negotiate(accept, results.GRAPH_TYPES) or "text/turtle"
        body = g.serialize(format=results.GRAPH_TYPES[media], encoding="utf-8")
        return Response(body, media_type=results.content_type(media), headers={"Vary": "Accept"})

    # -------------------------------------------------------------------- JSON API

    async def recommend(self, request: Request) -> Response:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype not in ("application/json", "text/json", ""):
            raise ApiError(415, "send the situation as application/json")
        body = await read_body(request, self.limits.max_request_bytes)
        try:
            data = json.loads(body)
        except UnicodeDecodeError:
            raise ApiError(400, "the request body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        situation = check_situation(self.kg, self.goals, data)
        try:
            reply = await self.run(("recommend", situation))
        except ApiError as exc:
            if exc.status == 400:
                exc.message = "the situation was refused: " + redact(exc.message, situation)
            raise
        return Response(reply[2], media_type="application/json")

    async def list_queries(self, request: Request) -> Response:
        return JSONResponse([self._query_json(q) for q in self.kg.queries])

    @staticmethod
    def _query_json(q: Any) -> dict[str, Any]:
        return {
            "name": q.name, "kind": q.kind, "summary": q.summary, "description": q.description,
            "params": [{"name": p.name, "columns": [{"var": c.var, "kind": c.kind} for c in p.columns],
                        "cardinality": p.cardinality, "default": p.default, "doc": p.doc} for p in q.params],
            "examples": list(q.examples), "url": f"/queries/{q.name}",
        }

    async def run_library_query(self, request: Request) -> Response:
        from hipkg.cli.query import resolve_iri

        name = request.path_params["name"]
        try:
            query = self.kg.queries.get(name)
        except InputError:
            raise ApiError(404, "unknown query; GET /queries lists them") from None
        items = list(request.query_params.multi_items())
        known = {p.name: p for p in query.params}
        rows: dict[str, list[Any]] = {}
        for key, raw in items:
            p = known.get(key)
            if p is None:
                raise ApiError(400, f"unknown parameter; the parameters of {query.name} are: {', '.join(known) or 'none'}")
            cells = [c.strip() for c in raw.split(",")] if len(p.columns) > 1 else [raw]
            if len(cells) != len(p.columns):
                raise ApiError(400, f"parameter {key} takes {len(p.columns)} comma-separated values per row ({','.join(c.var for c in p.columns)})")
            terms = []
            for cell, col in zip(cells, p.columns):
                if col.kind != "iri":
                    terms.append(cell)
                    continue
                try:
                    terms.append(resolve_iri(self.kg, cell, key))
                except InputError as exc:
                    why = "the label names several things; use a CURIE" if "ambiguous" in str(exc) else \
                        "not an IRI, a CURIE with a known prefix, or the label of anything in the graph"
                    raise ApiError(400, f"parameter {key}: {why}") from None
            rows.setdefault(key, []).append(tuple(terms) if len(terms) > 1 else terms[0])
        values: dict[str, Any] = {}
        for key, got in rows.items():
            if known[key].cardinality == "many":
                values[key] = got
            elif len(got) > 1:
                raise ApiError(400, f"parameter {key} takes one value")
            else:
                values[key] = got[0]
        try:
            text = query.bind(**values)
        except InputError as exc:
            raise ApiError(400, redact(str(exc), [v for _, v in items])) from None
        accept = results.parse_accept(request.headers.get("accept"))
        return self._answer(await self.run(("sparql", text, accept, self.limits.max_rows, self.limits.max_bytes)))

    async def health(self, request: Request) -> Response:
        lim = self.limits
        return JSONResponse({
            "status": "ok", "version": __version__, "workers": self.pool.size, "busy_workers": self.pool.busy,
            "active_queries": self.active, "worker_restarts": self.pool.restarts,
            "limits": {"timeout_s": lim.timeout, "max_rows": lim.max_rows, "max_bytes": lim.max_bytes,
                       "max_request_bytes": lim.max_request_bytes, "max_concurrent": lim.max_concurrent},
        })

    async def openapi(self, request: Request) -> Response:
        from hipkg.serve.openapi import spec

        return JSONResponse(spec(self.base_url, self.limits, self.goals))

    # -------------------------------------------------------------------- pages

    async def home(self, request: Request) -> Response:
        qp = request.query_params
        findings = [v for v in qp.getlist("finding") if v.strip()]
        allergies = [v for v in qp.getlist("allergy") if v.strip()]
        goal = qp.get("goal", "therapeutic")
        submitted = bool(findings or allergies or "goal" in qp)
        body, status = "", 200
        if submitted:
            errors, codes = [], {"findings": [], "allergies": []}
            for kind, key, entries in (("finding", "findings", findings), ("allergy", "allergies", allergies)):
                for i, entry in enumerate(entries, start=1):
                    code = self.index.resolve(entry, kind)
                    if code is None:
                        what = "condition" if kind == "finding" else "substance or medication class"
                        errors.append(f"{kind.capitalize()} {i}: not a code, nor the name of exactly one {what} in the graph; pick a suggestion")
                        continue
                    codes[key].append(code)
            if not findings:
                errors.append("Give at least one finding.")
            situation = {"findings": codes["findings"], "allergies": codes["allergies"], "goal": goal}
            if not errors:
                try:
                    check_situation(self.kg, self.goals, situation)
                except ApiError as exc:
                    errors.append(_human_position(exc.message))
            if errors:
                status = 400
                items = "".join(f"<li>{web.e(m)}</li>" for m in errors)
                body = f'<div class="error" role="alert" id="errors"><p>The situation cannot be answered yet:</p><ul>{items}</ul></div>'
            else:
                try:
                    reply = await self.run(("recommend", situation))
                    body = web.answer(self.index, json.loads(reply[2]))
                except ApiError as exc:
                    status = exc.status
                    body = f'<div class="error" role="alert" id="errors"><p>{web.e(exc.message if exc.status != 400 else "The situation was refused.")}</p></div>'
        html = web.layout("Situation", web.form(self.index, findings, allergies, goal) + body, home=True)
        return HTMLResponse(html, status_code=status)

    async def concept(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if cid not in self.index.concepts:
            return HTMLResponse(web.message_page("Not found", "There is no concept with that identifier in the graph."), status_code=404)
        c = self.index.concepts[cid]
        return HTMLResponse(web.layout(c.label, web.concept_page(self.index, cid)))


def _human_position(message: str) -> str:
    """'findings[0] is not ...' as 'Finding 1: not ...' for the form."""
    import re

    m = re.match(r"(findings|allergies)\[(\d+)\] is (.*)", message)
    if not m:
        return message
    what = "Finding" if m.group(1) == "findings" else "Allergy"
    return f"{what} {int(m.group(2)) + 1}: {m.group(3)}"


def create_app(kg: Any, pool: WorkerPool, limits: Limits, base_url: str, cors: str | None = None) -> Starlette:
    service = Service(kg, pool, limits, base_url)

    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = dict(exc.headers)
        path = request.url.path
        if path.startswith("/sparql") or path.startswith("/queries/"):
            return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=headers)
        if path.startswith(("/recommend", "/queries", "/healthz", "/openapi")):
            return JSONResponse({"error": exc.message, "status": exc.status}, status_code=exc.status, headers=headers)
        return HTMLResponse(web.message_page("Request refused", exc.message), status_code=exc.status, headers=headers)

    routes = [
        Route("/", service.home, methods=["GET"]),
        Route("/concept/{cid:path}", service.concept, methods=["GET"]),
        Route("/sparql", service.sparql, methods=["GET", "POST"]),
        Route("/recommend", service.recommend, methods=["POST"]),
        Route("/queries", service.list_queries, methods=["GET"]),
        Route("/queries/{name:path}", service.run_library_query, methods=["GET"]),
        Route("/healthz", service.health, methods=["GET"]),
        Route("/openapi.json", service.openapi, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(Guard, max_request_bytes=limits.max_request_bytes)]
    if cors:
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=[cors], allow_methods=["GET", "POST"],
                                        allow_headers=["Content-Type", "Accept"], expose_headers=["Hipkg-Truncated"], max_age=600))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={ApiError: api_error})
    app.state.service = service
    return app
