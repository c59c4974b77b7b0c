"""Spark, for more than one machine: situations answered in the executors, with the same queries as everywhere else.

The built graph (the cached N-Quads) is broadcast, so it reaches each executor once; each Python worker loads it into
an in-process Oxigraph store on first use and keeps it. A partition is answered chunk by chunk with the batch path
(hipkg.batch.answer_chunk, hipkg.columnar), through ``mapInArrow``: a row per chunk and table, the table as an Arrow
IPC stream (dictionary-encoded: Spark moves a few bytes a row, not a row of every table's columns), kept (persist) and
turned back into rows per table by a second ``mapInArrow``, so that ``tables`` gives one DataFrame per table with the
columns of hipkg.columnar.SCHEMAS, answered once whatever is written. ``pyspark`` is an optional extra: pip install 'hipkg[spark]'.
"""
from __future__ import annotations

import json
import os
import sys
import warnings
import tempfile
import uuid
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, Iterator

from hipkg.batch import Chunk, Unreadable, answer_chunk, row_situation
from hipkg.columnar import PER_CASE, SCHEMAS, Columns, arrow, case_counts, run_tables, schema
from hipkg.errors import InputError, InvalidSituation, MissingExtra
from hipkg.fhir_in import FhirReader
from hipkg.omop import CdmReading, OmopReader, connect
from hipkg.recommending import LineWriter, Recommender
from hipkg.situations import from_dict
from hipkg.store import Store, bundle_key, bundled_nquads, read_mappings

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: Situations per query run in an executor.
CHUNK = 1000
#: The JVM heap of a local Spark (driver and executor in one); set SPARK_DRIVER_MEMORY to choose another.
LOCAL_MEMORY = "4g"


def _pyspark() -> Any:
    """pyspark, with pyspark.sql (functions, types) imported."""
    try:
        import pyspark  # optional (hipkg[spark]): imported where it is used
        import pyspark.sql.functions  # noqa: F401 - optional (hipkg[spark]): imported where it is used
        import pyspark.sql.types  # noqa: F401 - optional (hipkg[spark]): imported where it is used
    except ImportError:
        raise MissingExtra("Spark (hipkg.spark, hipkg cohort --spark)", "pyspark", "spark") from None
    return pyspark


def session(master: str, name: str = "hipkg") -> "SparkSession":
    """A Spark session on ``master`` (local[2], spark://HOST:7077, yarn). Locally, the executors run this Python
    (PYSPARK_PYTHON, unless set), so that they import the hipkg and the packages this process does."""
    sql = _pyspark().sql
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    builder = (sql.SparkSession.builder.master(master).appName(name).config("spark.sql.shuffle.partitions", "8")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local") and "SPARK_DRIVER_MEMORY" not in os.environ:
        # locally the driver is the executor too: Spark's 1 GB default heap ran out on 200,000 situations
        builder = builder.config("spark.driver.memory", LOCAL_MEMORY)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _struct(fields: "pa.Schema") -> Any:
    """The Spark schema of an Arrow schema of plain columns."""
    types = _pyspark().sql.types
    return types.StructType([types.StructField(f.name, _spark_type(f.type), True) for f in fields])


def _spark_type(t: "pa.DataType") -> Any:
    types = _pyspark().sql.types
    pa = arrow()
    if pa.types.is_list(t):
        return types.ArrayType(types.StringType())
    return {pa.string(): types.StringType(), pa.int64(): types.LongType(), pa.bool_(): types.BooleanType()}[t]


_worker: tuple[str, Recommender, FhirReader, Columns] | None = None


def _recommender(graph: Any, key: str) -> tuple[Recommender, FhirReader, Columns]:
    """The executor's recommender for the broadcast graph (``key``: its content key), loaded once per Python worker."""
    global _worker
    if _worker is None or _worker[0] != key:
        mapping_set = read_mappings()
        recommender = Recommender(Store(graph.value, mapping_set, "oxigraph"))
        _worker = (key, recommender, FhirReader(recommender.store), Columns())
    return _worker[1], _worker[2], _worker[3]


def _answer(graph: Any, key: str, cohort: bool, batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
    """mapInArrow: a partition's situations (case, situation JSON or key columns; a cohort's also ``read``) -> one
    row per chunk and table: its name and the table as an Arrow IPC stream (dictionary-encoded, so a few bytes a row)."""
    pa = arrow()
    for tables in _chunks(graph, key, cohort, batches):
        names, blobs = [], []
        for table in PER_CASE:
            part = tables[table]
            if part.num_rows:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, part.schema) as stream:
                    stream.write_table(part)
                names.append(table)
                blobs.append(sink.getvalue().to_pybytes())
        yield pa.RecordBatch.from_arrays([pa.array(names, pa.string()), pa.array(blobs, pa.binary())], names=["table", "data"])


def _chunks(graph: Any, key: str, cohort: bool, batches: Iterator["pa.RecordBatch"]) -> Iterator[dict[str, "pa.Table"]]:
    """A partition's situations, CHUNK at a time, answered with the batch path: each chunk's per-case tables."""
    recommender, fhir, columns = _recommender(graph, key)
    for batch in batches:
        rows = batch.to_pylist()
        for start in range(0, len(rows), CHUNK):
            lines = tuple(_line(recommender, row, cohort) for row in rows[start:start + CHUNK])
            yield answer_chunk(recommender, Chunk("Spark", False, lines=lines, columnar=True, unit="case"), LineWriter(), fhir, columns).tables


def _rows(table: str, batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
    """mapInArrow: one table's IPC streams -> its rows, dictionary columns as plain strings (Spark's types)."""
    pa = arrow()
    plain = schema(table, plain=True)
    for batch in batches:
        for blob in batch.column("data"):
            yield from pa.ipc.open_stream(blob.as_buffer()).read_all().cast(plain).to_batches()


def _line(recommender: Recommender, row: dict[str, Any], cohort: bool) -> tuple[str, Any]:
    """(case, the situation read, or Unreadable): a cohort's persons are read as hipkg.omop reads them (no finding
    needed, with how they were read); anything else as a batch line."""
    case = str(row.get("case"))
    read = row.pop("read", None) if cohort else None
    if cohort and row.get("error"):  # what hipkg.omop found wrong with the person's records
        return case, Unreadable(row["error"])
    row.pop("error", None)
    raw = row_situation(row)
    if not cohort or not isinstance(raw, dict):
        return case, raw
    data = {k: v for k, v in raw.items() if k != "case"}
    try:
        situation = from_dict(recommender.vocabulary, data, f"OMOP CDM person {case}", findings_required=False)
    except InvalidSituation as exc:
        return case, Unreadable(exc.public)
    if read:
        given = json.loads(read)
        situation = replace(situation, reading=CdmReading(given["person"], tuple(tuple(i) for i in given["ignored"]),
                                                          tuple(given["unrecognized"])))
    return case, situation


def _driver_recommender() -> Recommender:
    """A recommender in this process, for the run tables, when the caller has none."""
    mapping_set = read_mappings()
    return Recommender(Store(bundled_nquads(mapping_set), mapping_set, "oxigraph"))


def tables(situations: "DataFrame", cohort: bool = False, recommender: Recommender | None = None) -> dict[str, "DataFrame"]:
    """One DataFrame per table of hipkg.columnar, for a DataFrame of situations: a ``case`` column and either
    ``situation`` (JSON text) or a column per situation key (``findings``, ``observations``, ...). Read it from
    Parquet (spark.read.parquet) or a table (spark.table); write the results with ``write``. The run tables (rules,
    sources, options) come from ``recommender``, else a graph loaded here."""
    if "case" not in situations.columns:
        raise InputError(f"a DataFrame of situations needs a 'case' column; it has {', '.join(situations.columns)[:300]}")
    spark = situations.sparkSession
    functions, types = _pyspark().sql.functions, _pyspark().sql.types
    graph = spark.sparkContext.broadcast(bundled_nquads(read_mappings()))
    situations = _spread(situations)
    chunks = types.StructType([types.StructField("table", types.StringType()), types.StructField("data", types.BinaryType())])
    # kept on disk: a chunk's tables are megabytes, which Spark's memory store must unroll whole (a 1 GB heap ran out)
    answered = situations.mapInArrow(partial(_answer, graph, bundle_key(), cohort), chunks).persist(_pyspark().StorageLevel.DISK_ONLY)
    out = {table: answered.filter(functions.col("table") == table).mapInArrow(partial(_rows, table), _struct(schema(table, plain=True)))
           for table in PER_CASE}
    for name, table in run_tables(recommender or _driver_recommender()).items():
        out[name] = spark.createDataFrame(table.to_pylist(), _struct(table.schema))
    return out


def recommend(situations: "DataFrame") -> "DataFrame":
    """The ``answers`` table (case, option, status, guidelines) of a DataFrame of situations; ``tables`` gives all."""
    return tables(situations)["answers"]


def write(frames: dict[str, "DataFrame"], output: str | None = None, table_prefix: str | None = None) -> None:
    """Write the tables as Parquet under ``output`` (OUTPUT/NAME.parquet, a folder of parts each) or as Spark tables
    named PREFIXNAME."""
    for name, frame in frames.items():
        if output is not None:
            frame.write.mode("errorifexists").parquet(os.path.join(output, f"{name}.parquet"))
        if table_prefix is not None:
            frame.write.mode("errorifexists").saveAsTable(f"{table_prefix}{name}")


def _answer_to_files(graph: Any, key: str, cohort: bool, output: str, batches: Iterator["pa.RecordBatch"]) -> Iterator["pa.RecordBatch"]:
    """mapInArrow: a partition's situations answered as ``_answer`` does, each chunk's tables written by this executor
    as Parquet parts under OUTPUT/NAME.parquet/; Spark moves only a row per file (table, path, rows, errors,
    unrecognized-only cases)."""
    pa = arrow()
    import pyarrow.fs  # noqa: F401 - optional (hipkg[cohort]): imported where it is used
    import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

    filesystem, root = pa.fs.FileSystem.from_uri(output)
    for tables in _chunks(graph, key, cohort, batches):
        out: dict[str, list[Any]] = {"table": [], "path": [], "rows": [], "errors": [], "unrecognized_only": []}
        for table in PER_CASE:
            part = tables[table]
            if not part.num_rows:
                continue
            folder = f"{root}/{table}.parquet"
            filesystem.create_dir(folder, recursive=True)
            path = f"{folder}/part-{uuid.uuid4().hex}.parquet"
            pq.write_table(part, path, filesystem=filesystem, compression="zstd")
            counts = case_counts(part) if table == "cases" else {}
            out["table"].append(table)
            out["path"].append(path)
            out["rows"].append(part.num_rows)
            out["errors"].append(counts.get("errors", 0))
            out["unrecognized_only"].append(counts.get("unrecognized_only", 0))
        yield pa.RecordBatch.from_pydict(out, schema=pa.schema([("table", pa.string()), ("path", pa.string()), ("rows", pa.int64()),
                                                               ("errors", pa.int64()), ("unrecognized_only", pa.int64())]))


def write_parquet(situations: "DataFrame", output: str, cohort: bool = False, recommender: Recommender | None = None) -> dict[str, int]:
    """The tables of a DataFrame of situations written as Parquet by the executors themselves, no Spark rows between:
    OUTPUT/NAME.parquet is a folder of parts per per-case table (the layout Spark writes; pyarrow, DuckDB and Spark read
    it as one table) with the schemas of hipkg.columnar, dictionary columns included, and a file per run table. OUTPUT
    must be reachable from every executor: a local folder on local[N]; on a cluster, a shared file system or a URI
    pyarrow opens (hdfs://, s3://). Returns the counts of cases, errors and unrecognized-only cases."""
    pa = arrow()
    import pyarrow.fs  # noqa: F401 - optional (hipkg[cohort]): imported where it is used
    import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

    if "://" not in output:
        output = os.path.abspath(output)
    filesystem, root = pa.fs.FileSystem.from_uri(output)
    if filesystem.get_file_info(pa.fs.FileSelector(root, allow_not_found=True)):
        raise InputError(f"{output}: the output folder is not empty; give a new or empty one (nothing is overwritten)")
    situations = _spread(situations)
    spark = situations.sparkSession
    graph = spark.sparkContext.broadcast(bundled_nquads(read_mappings()))
    types = _pyspark().sql.types
    files = types.StructType([types.StructField("table", types.StringType()), types.StructField("path", types.StringType()),
                              *(types.StructField(n, types.LongType()) for n in ("rows", "errors", "unrecognized_only"))])
    written = situations.mapInArrow(partial(_answer_to_files, graph, bundle_key(), cohort, output), files).collect()
    for name, table in run_tables(recommender or _driver_recommender()).items():
        pq.write_table(table, f"{root}/{name}.parquet", filesystem=filesystem, compression="zstd")
    for name in PER_CASE:  # a table no chunk had rows for is still there, empty
        if not any(row["table"] == name for row in written):
            filesystem.create_dir(f"{root}/{name}.parquet", recursive=True)
            pq.write_table(schema(name).empty_table(), f"{root}/{name}.parquet/part-empty.parquet", filesystem=filesystem)
    cases = [row for row in written if row["table"] == "cases"]
    return {"cases": sum(r["rows"] for r in cases), "errors": sum(r["errors"] for r in cases),
            "unrecognized_only": sum(r["unrecognized_only"] for r in cases)}


def _spread(situations: "DataFrame") -> "DataFrame":
    """A small file is one partition: spread it over the cores."""
    parallelism = situations.sparkSession.sparkContext.defaultParallelism
    return situations.repartition(parallelism) if situations.rdd.getNumPartitions() < parallelism else situations


def cohort(recommender: Recommender, url: str, date: str, output: str, master: str, stop: bool = True) -> dict[str, Any]:
    """hipkg cohort --spark: the CDM read here (hipkg.omop), its persons answered in Spark's executors, the tables
    written under ``output``. With ``stop``, a person with a bad record ends the run before anything is answered."""
    pa = arrow()
    import pyarrow.parquet as pq  # optional (hipkg[cohort]): imported where it is used

    reader = OmopReader(recommender.store, connect(url))
    if os.path.isdir(output) and os.listdir(output):  # checked again by write_parquet, before Spark starts here
        raise InputError(f"{output}: the --output folder is not empty; give a new or empty one (nothing is overwritten)")
    spool = tempfile.mkdtemp(prefix="hipkg-spark-")
    path = os.path.join(spool, "situations.parquet")
    columns: dict[str, list[Any]] = {"case": [], "situation": [], "read": [], "error": []}
    strings = pa.schema([(name, pa.string()) for name in columns])
    writer = pq.ParquetWriter(path, strings)
    try:
        for person, situation in reader.persons(date, stop):
            columns["case"].append(str(person))
            columns["error"].append(situation if isinstance(situation, str) else None)
            if isinstance(situation, str):
                columns["situation"].append(None)
                columns["read"].append(None)
            else:
                columns["situation"].append(json.dumps(reader.last))
                r = situation.reading
                columns["read"].append(json.dumps({"person": r.person, "ignored": r.ignored, "unrecognized": r.unrecognized}) if r else None)
            if len(columns["case"]) >= 100_000:
                writer.write_table(pa.table(columns, schema=strings))
                columns = {k: [] for k in columns}
        writer.write_table(pa.table(columns, schema=strings))
        writer.close()
        spark = session(master, "hipkg cohort")
        counts = write_parquet(spark.read.parquet(path), output, cohort=True, recommender=recommender)
    finally:
        for name in os.listdir(spool):
            os.unlink(os.path.join(spool, name))
        os.rmdir(spool)
    summary = {"cases": counts["cases"], "answered": counts["cases"] - counts["errors"], "errors": counts["errors"],
               "unrecognized_only": counts["unrecognized_only"], "input": url, "date": date, "spark": master,
               **reader.counts.to_json()}
    with open(os.path.join(output, "run.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return summary
