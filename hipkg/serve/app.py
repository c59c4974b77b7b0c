"""The ASGI application: SPARQL 1.1 Protocol endpoint, JSON API, web pages, and the guards around them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import anyio
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import RDF, RDFS, VOID, XSD
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from hipkg import DISCLAIMER, __version__, situations
from hipkg.cdshooks import CdsError, CdsHooks
from hipkg.errors import AmbiguousName, InputError, InvalidSituation, ParameterError, UnknownName, UnknownQuery
from hipkg.graph import KnowledgeGraph
from hipkg.serve import media, web
from hipkg.serve.config import Limits
from hipkg.serve.openapi import spec
from hipkg.serve.pool import PoolBusy, QueryTimeout, WorkerFailed, WorkerPool
from hipkg.sparql import bind_params

STATIC = Path(__file__).resolve().parent / "static"
MAX_CODES = 50


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


def check_situation(kg: KnowledgeGraph, data: Any) -> dict[str, Any]:
    """Validate a situation with hipkg.situations, replying with wordings that name the position of a bad value,
    never the value."""
    try:
        if situations.is_fhir(data):
            kg.fhir.situation(data, "request body")
        else:
            situations.from_dict(kg.vocabulary, data, max_codes=MAX_CODES)
    except InvalidSituation as exc:
        raise ApiError(400, exc.public) from None
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

    def __init__(self, kg: KnowledgeGraph, pool: WorkerPool, limits: Limits, base_url: str) -> None:
        self.kg, self.pool, self.limits, self.base_url = kg, pool, limits, base_url
        self.index = web.ConceptIndex(kg)
        self.active = 0
        self.limiter = anyio.CapacityLimiter(limits.max_concurrent)
        self.recommending = 0
        self.recommend_limiter = anyio.CapacityLimiter(limits.max_recommend)
        self.triples = len(kg.data)
        self.cds = CdsHooks(kg, limits.fhir_servers, limits.timeout, limits.max_bytes)

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

    async def recommend_json(self, situation: dict) -> str:
        """A checked situation's answer as JSON, computed in this process under its own cap: recommendations never
        wait behind SPARQL queries, which have the workers."""
        if self.recommending >= self.limits.max_recommend:
            raise ApiError(503, f"the server is answering {self.limits.max_recommend} recommendations already; try again shortly",
                           {"Retry-After": "1"})
        self.recommending += 1
        try:
            answer = await anyio.to_thread.run_sync(self.kg.recommend, situation, limiter=self.recommend_limiter)
        except InputError as exc:
            raise ApiError(400, exc.public) from None
        finally:
            self.recommending -= 1
        return answer.dumps()

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
        accept = media.parse_accept(request.headers.get("accept"))
        return self._answer(await self.run(("sparql", queries[0], accept, self.limits.max_rows, self.limits.max_bytes)))

    @staticmethod
    def _answer(reply: tuple) -> Response:
        _, chosen, body, cut = reply
        headers = {"Vary": "Accept"}
        if cut:
            headers["Hipkg-Truncated"] = cut
        return Response(body, media_type=media.content_type(chosen), headers=headers)

    def service_description(self, request: Request) -> Response:
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
        accept = media.parse_accept(request.headers.get("accept"))
        chosen = media.negotiate(accept, media.GRAPH_TYPES) or "text/turtle"
        body = g.serialize(format=media.GRAPH_TYPES[chosen], encoding="utf-8")
        return Response(body, media_type=media.content_type(chosen), headers={"Vary": "Accept"})

    # -------------------------------------------------------------------- JSON API

    async def recommend(self, request: Request) -> Response:
        """POST /recommend: a hipkg situation, or FHIR R4 JSON (a Bundle, or a list of resources)."""
        situation = check_situation(self.kg, await self._json_body(request))
        try:
            text = await self.recommend_json(situation)
        except ApiError as exc:
            if exc.status == 400:
                exc.message = "the situation was refused: " + redact(exc.message, situation)
            raise
        return Response(text, media_type="application/json")

    # -------------------------------------------------------------------- CDS Hooks 2.0

    async def cds_discovery(self, request: Request) -> Response:
        return JSONResponse(self.cds.discovery())

    async def cds_call(self, request: Request) -> Response:
        """POST /cds-services/{id}: the cards, computed in this process under the recommendations' cap."""
        body = await self._json_body(request)
        if self.recommending >= self.limits.max_recommend:
            raise ApiError(503, f"the server is answering {self.limits.max_recommend} recommendations already; try again shortly",
                           {"Retry-After": "1"})
        self.recommending += 1
        try:
            cards = await anyio.to_thread.run_sync(self.cds.call, request.path_params["service"], body, limiter=self.recommend_limiter)
        except CdsError as exc:
            raise ApiError(exc.status, str(exc)) from None
        except InputError as exc:
            raise ApiError(400, "the prefetch was refused: " + exc.public) from None
        finally:
            self.recommending -= 1
        return JSONResponse(cards)

    async def cds_feedback(self, request: Request) -> Response:
        body = await self._json_body(request)
        try:
            return JSONResponse(self.cds.feedback(request.path_params["service"], body))
        except CdsError as exc:
            raise ApiError(exc.status, str(exc)) from None

    async def _json_body(self, request: Request) -> Any:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if ctype not in ("application/json", "application/fhir+json", "text/json", ""):
            raise ApiError(415, "send the request as application/json (application/fhir+json is read the same)")
        body = await read_body(request, self.limits.max_request_bytes)
        try:
            return json.loads(body)
        except UnicodeDecodeError:
            raise ApiError(400, "the request body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"the request body is not valid JSON (line {exc.lineno}, column {exc.colno})") from None

    async def list_queries(self, request: Request) -> Response:
        return JSONResponse([{**q.to_json(), "url": f"/queries/{q.name}"} for q in self.kg.queries])

    async def run_library_query(self, request: Request) -> Response:
        name = request.path_params["name"]
        try:
            query = self.kg.queries.get(name)
        except UnknownQuery:
            raise ApiError(404, "unknown query; GET /queries lists them") from None
        items = list(request.query_params.multi_items())
        try:
            text = query.bind(**bind_params(self.kg.data, query, items, flag="parameter"))
        except ParameterError as exc:
            raise ApiError(400, _parameter_problem(query.name, exc)) from None
        except AmbiguousName as exc:
            raise ApiError(400, f"parameter {exc.key}: the label names several things; use a CURIE") from None
        except UnknownName as exc:
            raise ApiError(400, f"parameter {exc.key}: not an IRI, a CURIE with a known prefix, or the label of anything in the graph") from None
        except InputError as exc:  # a value that is no RDF term of its kind
            raise ApiError(400, redact(str(exc), [v for _, v in items])) from None
        accept = media.parse_accept(request.headers.get("accept"))
        return self._answer(await self.run(("sparql", text, accept, self.limits.max_rows, self.limits.max_bytes)))

    async def health(self, request: Request) -> Response:
        lim = self.limits
        live = await anyio.to_thread.run_sync(self.pool.heal)
        return JSONResponse({
            "status": "ok" if live == self.pool.size else "degraded", "version": __version__, "workers": self.pool.size,
            "live_workers": live, "busy_workers": self.pool.busy, "active_queries": self.active,
            "active_recommendations": self.recommending, "worker_restarts": self.pool.restarts,
            "limits": {"timeout_s": lim.timeout, "max_rows": lim.max_rows, "max_bytes": lim.max_bytes,
                       "max_request_bytes": lim.max_request_bytes, "max_concurrent": lim.max_concurrent,
                       "max_recommend": lim.max_recommend},
        }, status_code=200 if live else 503)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(spec(self.base_url, self.limits, self.kg.vocabulary))

    # -------------------------------------------------------------------- pages

    async def home(self, request: Request) -> Response:
        qp = request.query_params
        findings = [v for v in qp.getlist("finding") if v.strip()]
        allergies = [v for v in qp.getlist("allergy") if v.strip()]
        goal = qp.get("goal", self.kg.vocabulary.default_goal)
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
                    situations.from_dict(self.kg.vocabulary, situation, max_codes=MAX_CODES)
                except InvalidSituation as exc:
                    errors.append(_human_position(exc))
            if errors:
                status = 400
                items = "".join(f"<li>{web.e(m)}</li>" for m in errors)
                body = f'<div class="error" role="alert" id="errors"><p>The situation cannot be answered yet:</p><ul>{items}</ul></div>'
            else:
                try:
                    body = web.answer(self.index, json.loads(await self.recommend_json(situation)))
                except ApiError as exc:
                    status = exc.status
                    body = f'<div class="error" role="alert" id="errors"><p>{web.e(exc.message if exc.status != 400 else "The situation was refused.")}</p></div>'
        answered = submitted and status == 200
        if answered:
            page = body + web.form(self.index, findings, allergies, goal, folded=True)
        else:
            page = web.form(self.index, findings, allergies, goal) + body + ("" if submitted else web.examples(self.index))
        html = web.layout("Situation", page, home=True)
        return HTMLResponse(html, status_code=status)

    async def concept(self, request: Request) -> Response:
        cid = request.path_params["cid"]
        if cid not in self.index.concepts:
            return HTMLResponse(web.message_page("Not found", "There is no concept with that identifier in the graph."), status_code=404)
        c = self.index.concepts[cid]
        return HTMLResponse(web.layout(c.label, web.concept_page(self.index, cid)))


def _human_position(exc: InvalidSituation) -> str:
    """'findings[0] is not ...' as 'Finding 1: not ...' for the form."""
    if exc.index is None or exc.field not in ("findings", "allergies"):
        return exc.public
    what = "Finding" if exc.field == "findings" else "Allergy"
    return f"{what} {exc.index + 1}: {exc.problem}"


def _parameter_problem(query: str, exc: ParameterError) -> str:
    if exc.kind == "unknown":
        return f"unknown parameter; the parameters of {query} are: {', '.join(exc.known) or 'none'}"
    if exc.kind == "columns":
        return f"parameter {exc.key} takes {len(exc.columns)} comma-separated values per row ({','.join(exc.columns)})"
    if exc.kind == "once":
        return f"parameter {exc.key} takes one value"
    return f"parameter {exc.key}: {exc.kind}"


def create_app(kg: KnowledgeGraph, pool: WorkerPool, limits: Limits, base_url: str, cors: str | None = None) -> Starlette:
    service = Service(kg, pool, limits, base_url)

    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = dict(exc.headers)
        path = request.url.path
        if path.startswith("/sparql") or path.startswith("/queries/"):
            return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=headers)
        if path.startswith(("/recommend", "/queries", "/healthz", "/openapi", "/cds-services")):
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
        Route("/cds-services", service.cds_discovery, methods=["GET"]),
        Route("/cds-services/{service}", service.cds_call, methods=["POST"]),
        Route("/cds-services/{service}/feedback", service.cds_feedback, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(Guard, max_request_bytes=limits.max_request_bytes)]
    if cors:
        middleware.insert(0, Middleware(CORSMiddleware, allow_origins=[cors], allow_methods=["GET", "POST"],
                                        allow_headers=["Content-Type", "Accept"], expose_headers=["Hipkg-Truncated"], max_age=600))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={ApiError: api_error})
    app.state.service = service
    return app
