"""The wheel carries the ontology and the queries: build it, install it into a fresh venv, run it outside the repo."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(REPO)],
                   check=True, capture_output=True)
    wheel = next((tmp / "dist").glob("hipkg-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    # Dependencies (rdflib, pyshacl, ...) come from this environment; its .pth files (the editable repo) are not read.
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def run(python: Path, code: str, cwd: Path) -> str:
    proc = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_installed_wheel_loads_every_ttl_and_rq_from_the_package(installed: Path, tmp_path: Path) -> None:
    out = run(installed, (
        "import hipkg, hipkg.resources as r\n"
        "assert 'site-packages' in hipkg.__file__, hipkg.__file__\n"
        "print(len(r.walk(r.ontology_dir(), '.ttl')), len(r.walk(r.queries_dir(), '.rq')))\n"
        "kg = hipkg.load(); print(len(kg.queries.names()), kg.validate().conforms)\n"
    ), tmp_path)
    ttl, rq, names, conforms = out.split()
    assert int(ttl) == len(list((REPO / "ontology").rglob("*.ttl")))
    assert int(rq) == int(names) == len(list((REPO / "queries").rglob("*.rq")))
    assert conforms == "True"


def test_installed_wheel_answers_a_situation(installed: Path, tmp_path: Path) -> None:
    proc = subprocess.run([str(installed), "-m", "hipkg", "recommend", "--finding", "ICD10CM:M16.12", "--format", "json"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert '"fits"' in proc.stdout
