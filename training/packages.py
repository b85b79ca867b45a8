"""Third-party training data: permissively licensed Python packages, pinned, by name.

Each package is fetched as a wheel from PyPI (`pip download`, no dependencies), and its
`.py` files are read straight from the archive: nothing is installed or imported. The
licence recorded here is checked against the wheel's own metadata when it is read, and
both go into the corpus manifest.

Whole packages are held out (`HELDOUT`), so the held-out figure means "code from a
project it never saw". Vendored copies of other projects (`_vendor/`, `vendored/`,
`extern/`) and test suites are skipped.
"""

from __future__ import annotations

import email
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Reserved for an outside evaluation: never in a corpus, a held-out set or a benchmark.
EXCLUDED = frozenset(
    "flask jinja2 click werkzeug requests markupsafe itsdangerous blinker httpx attrs rich "
    "pydantic".split()
)
PERMISSIVE = ("MIT", "BSD", "Apache", "PSF", "ISC")


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    licence: str  # SPDX-style, as the project declares it


# (name, version, licence). Chosen for breadth: web frameworks and servers, data tools,
# parsers, CLIs, async libraries, developer tools. Left out on purpose: sympy and
# pygments (mostly generated tables), pip and docutils (vendored or GPL parts).
PACKAGES = tuple(
    Package(*row)
    for row in (
        ("aiohttp", "3.14.5", "Apache-2.0 AND MIT"),
        ("alembic", "1.20.1", "MIT"),
        ("anyio", "4.16.0", "MIT"),
        ("arrow", "1.4.0", "Apache-2.0"),
        ("babel", "2.19.0", "BSD-3-Clause"),
        ("black", "26.10.1", "MIT"),
        ("boto3", "1.44.8", "Apache-2.0"),
        ("bottle", "0.13.4", "MIT"),
        ("cachetools", "8.0.2", "MIT"),
        ("celery", "5.7.0", "BSD-3-Clause"),
        ("coverage", "7.17.5", "Apache-2.0"),
        ("dask", "2026.8.0", "BSD-3-Clause"),
        ("decorator", "5.3.1", "BSD-2-Clause"),
        ("distlib", "0.4.4", "PSF-2.0"),
        ("django", "5.2.19", "BSD-3-Clause"),
        ("falcon", "4.4.0", "Apache-2.0"),
        ("filelock", "4.3.1", "MIT"),
        ("fire", "0.7.1", "Apache-2.0"),
        ("gunicorn", "27.0.1", "MIT"),
        ("h11", "0.16.0", "MIT"),
        ("humanize", "4.17.0", "MIT"),
        ("idna", "3.20", "BSD-3-Clause"),
        ("iniconfig", "2.3.1", "MIT"),
        ("ipython", "9.18.1", "BSD-3-Clause"),
        ("isort", "9.0.2", "MIT"),
        ("jedi", "0.20.1", "MIT"),
        ("jmespath", "1.1.0", "MIT"),
        ("jsonschema", "4.26.0", "MIT"),
        ("kombu", "5.7.0", "BSD-3-Clause"),
        ("loguru", "0.7.3", "MIT"),
        ("mako", "1.4.3", "MIT"),
        ("marshmallow", "4.4.0", "MIT"),
        ("more-itertools", "11.2.1", "MIT"),
        ("networkx", "3.6.1", "BSD-3-Clause"),
        ("oauthlib", "4.0.1", "BSD-3-Clause"),
        ("packaging", "26.4", "Apache-2.0 OR BSD-2-Clause"),
        ("parso", "0.8.7", "MIT"),
        ("pexpect", "4.9.0", "ISC"),
        ("platformdirs", "4.14.8", "MIT"),
        ("pluggy", "1.7.0", "MIT"),
        ("prompt-toolkit", "3.0.53", "BSD-3-Clause"),
        ("pyasn1", "0.6.5", "BSD-2-Clause"),
        ("pycodestyle", "2.15.0", "MIT"),
        ("pyflakes", "4.1.0", "MIT"),
        ("pymongo", "4.20.1", "Apache-2.0"),
        ("pyparsing", "3.3.3", "MIT"),
        ("pytest", "9.2.0", "MIT"),
        ("python-dateutil", "4.0.0", "BSD-3-Clause"),
        ("pytz", "2026.6", "MIT"),
        ("redis", "8.1.0", "MIT"),
        ("rsa", "4.9.1", "Apache-2.0"),
        ("s3transfer", "0.19.3", "Apache-2.0"),
        ("scrapy", "2.19.0", "BSD-3-Clause"),
        ("setuptools", "84.2.1", "MIT"),
        ("simplejson", "4.3.0", "MIT OR AFL-2.1"),
        ("six", "1.17.0", "MIT"),
        ("sortedcontainers", "2.4.0", "Apache-2.0"),
        ("sqlalchemy", "2.1.9", "MIT"),
        ("sqlparse", "0.6.1", "BSD-3-Clause"),
        ("starlette", "1.10.0", "BSD-3-Clause"),
        ("structlog", "26.1.0", "MIT OR Apache-2.0"),
        ("tabulate", "0.10.0", "MIT"),
        ("tomli", "2.5.0", "MIT"),
        ("tomlkit", "0.15.2", "MIT"),
        ("toolz", "1.2.0", "BSD-3-Clause"),
        ("tornado", "6.6.1", "Apache-2.0"),
        ("tox", "4.67.15", "MIT"),
        ("traitlets", "5.16.1", "BSD-3-Clause"),
        ("trio", "0.35.0", "MIT OR Apache-2.0"),
        ("urllib3", "2.8.0", "MIT"),
        ("uvicorn", "0.54.0", "BSD-3-Clause"),
        ("virtualenv", "21.15.11", "MIT"),
        ("websockets", "17.4", "BSD-3-Clause"),
        ("wheel", "0.48.0", "MIT"),
        ("xarray", "2026.9.0", "Apache-2.0"),
        ("yarl", "1.25.1", "Apache-2.0"),
    )
)
# Added for the GPU-trained model (corpus "stdlib+packages2"): scientific Python, type
# checkers, documentation and networking stacks. Left out: scipy and matplotlib (their
# wheels declare a licence text the automatic check cannot classify).
MORE_PACKAGES = tuple(
    Package(*row)
    for row in (
        ("autopep8", "2.3.2", "MIT"),
        ("bandit", "1.9.4", "Apache-2.0"),
        ("beautifulsoup4", "4.15.0", "MIT"),
        ("boltons", "26.2.0", "BSD-3-Clause"),
        ("cherrypy", "18.10.0", "BSD-3-Clause"),
        ("cloudpickle", "3.1.3", "BSD-3-Clause"),
        ("cmd2", "4.3.1", "MIT"),
        ("cryptography", "50.0.2", "Apache-2.0 OR BSD-3-Clause"),
        ("dateparser", "1.5.0", "BSD-3-Clause"),
        ("distributed", "2026.8.0", "BSD-3-Clause"),
        ("docker", "7.2.0", "Apache-2.0"),
        ("eventlet", "0.41.3", "MIT"),
        ("fabric", "3.2.3", "BSD-2-Clause"),
        ("flake8", "7.5.0", "MIT"),
        ("graphene", "3.4.3", "MIT"),
        ("h2", "4.4.1", "MIT"),
        ("hatchling", "1.33.0", "MIT"),
        ("invoke", "3.0.3", "BSD-2-Clause"),
        ("joblib", "1.6.0", "BSD-3-Clause"),
        ("jsonpickle", "4.1.4", "BSD-3-Clause"),
        ("mccabe", "0.7.0", "MIT"),
        ("mpmath", "1.4.1", "BSD-3-Clause"),
        ("mypy", "2.4.1", "MIT"),
        ("nox", "2026.10.20", "Apache-2.0"),
        ("numpy", "2.4.6", "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0"),
        ("openpyxl", "3.1.5", "MIT"),
        ("pandas", "3.1.1", "BSD-3-Clause"),
        ("peewee", "4.5.3", "MIT"),
        ("pendulum", "3.3.0", "MIT"),
        ("plumbum", "2.0.2", "MIT"),
        ("poetry-core", "2.5.0", "MIT"),
        ("psutil", "7.2.2", "BSD-3-Clause"),
        ("pyyaml", "6.0.4", "MIT"),
        ("sanic", "25.12.1", "MIT"),
        ("scikit-learn", "1.9.1", "BSD-3-Clause"),
        ("sh", "2.4.0", "MIT"),
        ("sphinx", "9.0.4", "BSD-2-Clause"),
        ("statsmodels", "0.15.0", "BSD-3-Clause"),
        ("transitions", "0.9.3", "MIT"),
        ("twisted", "26.10.0", "MIT"),
        ("webob", "1.8.11", "MIT"),
        ("wsproto", "1.3.2", "MIT"),
        ("yapf", "0.43.0", "Apache-2.0"),
    )
)
# Added for v4 (corpus "stdlib+packages3"), so that 500 M training tokens repeat the data
# about four times: machine learning, data and workflow tools, scientific libraries,
# databases, web and terminal frameworks (about 78 M tokens more). Left out: code
# generated from API specifications (kubernetes, plotly, openai, anthropic, the
# google-cloud and azure clients, botocore, elasticsearch), sympy and music21 (tables and
# data), and wheels whose declared licence is not permissive (biopython, ase, pygithub,
# zope-interface, psycopg2) or dual with a copyleft one (paho-mqtt).
V4_PACKAGES = tuple(
    Package(*row)
    for row in (
        ("accelerate", "1.15.0", "Apache-2.0"),
        ("aiomysql", "0.3.2", "MIT"),
        ("amqp", "5.4.2", "BSD-3-Clause"),
        ("astropy", "8.0.2", "BSD-3-Clause"),
        ("asyncpg", "0.32.0", "Apache-2.0"),
        ("beanie", "2.2.0", "Apache-2.0"),
        ("billiard", "4.3.2", "BSD-3-Clause"),
        ("cassandra-driver", "3.30.1", "Apache-2.0"),
        ("catboost", "1.2.10", "Apache-2.0"),
        ("charset-normalizer", "3.5.2", "MIT"),
        ("cvxpy", "1.9.3", "Apache-2.0"),
        ("dagster", "1.13.28", "Apache-2.0"),
        ("datasets", "5.2.0", "Apache-2.0"),
        ("diffusers", "0.42.1", "Apache-2.0"),
        ("dill", "0.4.1", "BSD-3-Clause"),
        ("dvc", "3.67.1", "Apache-2.0"),
        ("fastapi", "0.163.2", "MIT"),
        ("fiona", "1.10.1", "BSD-3-Clause"),
        ("folium", "0.20.0", "MIT"),
        ("geopandas", "1.2.0", "BSD-3-Clause"),
        ("gitpython", "3.2.1", "BSD-3-Clause"),
        ("gradio", "6.31.0", "Apache-2.0"),
        ("great-expectations", "1.24.1", "Apache-2.0"),
        ("holoviews", "1.23.2", "BSD-3-Clause"),
        ("hpack", "4.2.0", "MIT"),
        ("huggingface-hub", "2.4.0", "Apache-2.0"),
        ("hyperopt", "0.3.0", "BSD-3-Clause"),
        ("imageio", "2.38.1", "BSD-2-Clause"),
        ("jupyter-client", "8.10.0", "BSD-3-Clause"),
        ("keras", "3.15.1", "Apache-2.0"),
        ("langchain-core", "1.8.1", "MIT"),
        ("lightgbm", "4.7.0", "MIT"),
        ("luigi", "3.8.1", "Apache-2.0"),
        ("markdown", "3.11.3", "BSD-3-Clause"),
        ("mistune", "3.4.0", "BSD-3-Clause"),
        ("mlflow", "3.18.0", "Apache-2.0"),
        ("mongoengine", "0.29.3", "MIT"),
        ("motor", "3.7.1", "Apache-2.0"),
        ("multiprocess", "0.70.19", "BSD-3-Clause"),
        ("nbconvert", "7.17.2", "BSD-3-Clause"),
        ("nbformat", "5.11.1", "BSD-3-Clause"),
        ("neo4j", "6.4.1", "Apache-2.0"),
        ("nltk", "3.10.4", "Apache-2.0"),
        ("odmantic", "1.1.0", "ISC"),
        ("optax", "0.2.8", "Apache-2.0"),
        ("optuna", "5.0.0", "MIT"),
        ("pandera", "0.35.0", "MIT"),
        ("param", "2.4.2", "BSD-3-Clause"),
        ("pathos", "0.3.5", "BSD-3-Clause"),
        ("pennylane", "0.45.1", "Apache-2.0"),
        ("pika", "1.4.4", "BSD-3-Clause"),
        ("pony", "0.7.20", "Apache-2.0"),
        ("prefect", "3.9.1", "Apache-2.0"),
        ("pydub", "0.25.1", "MIT"),
        ("pymatgen", "2026.10.24", "MIT"),
        ("pymysql", "1.2.4", "MIT"),
        ("pyomo", "6.10.1", "BSD-3-Clause"),
        ("qiskit", "2.6.1", "Apache-2.0"),
        ("ray", "2.60.0", "Apache-2.0"),
        ("rdkit", "2026.9.1", "BSD-3-Clause"),
        ("scikit-image", "0.26.0", "BSD-3-Clause"),
        ("seaborn", "0.13.2", "BSD-3-Clause"),
        ("setuptools-scm", "10.3.4", "MIT"),
        ("shapely", "2.2.0", "BSD-3-Clause"),
        ("soundfile", "0.14.0", "BSD-3-Clause"),
        ("sqlmodel", "0.0.50", "MIT"),
        ("streamlit", "1.67.0", "Apache-2.0"),
        ("tensorboard", "2.21.0", "Apache-2.0"),
        ("textual", "8.2.8", "MIT"),
        ("tortoise-orm", "1.1.9", "Apache-2.0"),
        ("transformers", "5.23.0", "Apache-2.0"),
        ("typer", "0.29.1", "MIT"),
        ("vine", "5.1.0", "BSD-3-Clause"),
        ("wandb", "0.31.0", "MIT"),
    )
)
# Corpus name (the recipe's `corpus`) -> its packages.
CORPORA = {
    "stdlib": (),
    "stdlib+packages": PACKAGES,
    "stdlib+packages2": PACKAGES + MORE_PACKAGES,
    "stdlib+packages3": PACKAGES + MORE_PACKAGES + V4_PACKAGES,
}
# Whole packages the model never trains on: the "code it never saw" benchmark and the
# `tune` experiments use them.
HELDOUT = frozenset({"toolz", "sqlparse", "marshmallow", "humanize", "pyparsing"})
SKIP_DIRS = frozenset({"_vendor", "vendor", "vendored", "extern", "_distutils", "tests", "test"})
MAX_FILE_BYTES = 1 << 20


def packages_of(corpus: str) -> tuple[Package, ...]:
    if corpus not in CORPORA:
        raise ValueError(f"unknown corpus {corpus!r}; one of {', '.join(CORPORA)}")
    return CORPORA[corpus]


def split_of_package(name: str) -> str:
    return "heldout" if name in HELDOUT else "train"


def wheel_pattern(p: Package) -> re.Pattern:
    stem = re.sub(r"[-_.]+", "_", p.name)
    return re.compile(rf"^{stem}-{re.escape(p.version)}-.*\.whl$", re.IGNORECASE)


def find_wheel(p: Package, wheels: Path) -> Path | None:
    pattern = wheel_pattern(p)
    return next((w for w in sorted(wheels.glob("*.whl")) if pattern.match(w.name)), None)


def fetch(wheels: Path, packages: tuple[Package, ...] = PACKAGES) -> None:
    """Download the pinned wheels that `wheels` lacks (network: package index only)."""
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [f"{p.name}=={p.version}" for p in packages if find_wheel(p, wheels) is None]
    if not missing:
        return
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    cmd += ["--python-version", "3.11", "--platform", "any"]
    for tag in (
        "manylinux2014",
        "manylinux_2_17",
        "manylinux_2_24",
        "manylinux_2_27",
        "manylinux_2_28",
    ):
        cmd += ["--platform", f"{tag}_x86_64"]
    cmd += ["--dest", str(wheels), *missing]
    subprocess.run(cmd, check=True)


def wheel_licence(archive: zipfile.ZipFile) -> str:
    """The licence the wheel's METADATA declares (expression, field or classifiers)."""
    meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    m = email.message_from_bytes(archive.read(meta))
    classifiers = [c for c in m.get_all("Classifier") or [] if c.startswith("License ::")]
    fields = (m.get("License-Expression"), m.get("License"), *classifiers)
    return " | ".join(str(x) for x in fields if x)  # a long field may come as a Header


def is_permissive(declared: str) -> bool:
    return any(word in declared for word in PERMISSIVE) and "GPL" not in declared.replace(
        "LGPL", "GPL"
    )


def iter_wheel_sources(p: Package, wheel: Path) -> Iterator[tuple[str, str]]:
    """(path inside the corpus, text) for each source file of the wheel worth learning."""
    with zipfile.ZipFile(wheel) as z:
        for info in sorted(z.infolist(), key=lambda i: i.filename):
            parts = info.filename.split("/")
            if not info.filename.endswith(".py") or info.file_size > MAX_FILE_BYTES:
                continue
            if parts[0].endswith((".dist-info", ".data")) or SKIP_DIRS & set(parts[:-1]):
                continue
            if {x.lower() for x in parts[:-1]} & EXCLUDED:
                continue
            try:
                text = z.read(info).decode("utf-8")
            except UnicodeDecodeError:
                continue
            if text.strip():
                yield f"{p.name}/{info.filename}", text.replace("\r\n", "\n")
