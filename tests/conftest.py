"""Test fixtures: every store test runs on a SpatiaLite file and on a throwaway PostGIS cluster.

The PostGIS cluster is created, started and stopped by the test run itself (initdb in a temporary
directory, a free port on 127.0.0.1). ``SHEQU_TEST_POSTGRES_URL`` points the tests at an existing
server instead; ``SHEQU_REQUIRE_POSTGIS=1`` (set by ``make test``) turns a missing PostgreSQL into a
failure rather than a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shequ.layers.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHENGDU = ROOT / "data" / "chengdu"


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], user: str | None) -> None:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL+PostGIS server URL (without database name) for the whole run."""
    given = os.environ.get("SHEQU_TEST_POSTGRES_URL")
    if given:
        yield given.rstrip("/")
        return
    pg = _pg_bin()
    if pg is None or not glob.glob("/usr/share/postgresql/*/extension/postgis.control"):
        message = ("PostgreSQL/PostGIS not installed: apt-get install postgresql postgresql-15-postgis-3 "
                   "(make test does this)")
        if os.environ.get("SHEQU_REQUIRE_POSTGIS"):
            pytest.fail(message)
        pytest.skip(message)
    user = None
    datadir = Path(tempfile.mkdtemp(prefix="shequ-pg-"))
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(datadir, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    _run([str(pg / "initdb"), "-D", str(datadir / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8",
          "--locale=C", "--no-sync"], user)
    opts = (f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    _run([str(pg / "pg_ctl"), "-D", str(datadir / "data"), "-o", opts, "-l", str(datadir / "log"), "-w",
          "start"], user)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    try:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE shequ_template")
        store = Store(f"{url}/shequ_template")  # creates the postgis extension and the tables once
        store.dispose()
        yield url
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _run([str(pg / "pg_ctl"), "-D", str(datadir / "data"), "-m", "fast", "-w", "stop"], user)
        shutil.rmtree(datadir, ignore_errors=True)


BACKENDS = [pytest.param("spatialite"), pytest.param("postgis", marks=pytest.mark.postgis)]


@contextlib.contextmanager
def _fresh(backend: str, request: pytest.FixtureRequest, tmp_path: Path, template: str = "") -> Iterator[str]:
    """A database of its own for one test: empty, or a copy of a template (a file, or a PostGIS
    template database), so tests that read the same data do not each import it."""
    if backend == "spatialite":
        path = tmp_path / "shequ.db"
        # an empty store is a copy too: creating SpatiaLite's metadata and the tables takes ~0.7 s a file
        shutil.copyfile(template or request.getfixturevalue("empty_spatialite"), path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_url")
    import psycopg

    if not template:  # an empty database: the session's one, emptied (a TRUNCATE is ~20 times cheaper)
        yield request.getfixturevalue("empty_postgis")()
        return
    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = _conninfo(server)
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield f"{server}/{name}"
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def empty_postgis(postgres_url: str):
    """A function giving the session's PostGIS test database, emptied: every table truncated, its ids
    restarted; a test that left a transaction open gets a fresh copy of the template instead."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(postgres_url), autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name} TEMPLATE shequ_template")
    url = f"{postgres_url}/{name}"
    conninfo = _conninfo(postgres_url).replace("dbname=postgres", f"dbname={name}")
    used = False

    def empty() -> str:
        nonlocal used
        if not used:
            used = True
            return url
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute("SET lock_timeout = '10s'")
            tables = [r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                             "AND tablename <> 'spatial_ref_sys'")]
            c.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        return url

    return empty


@pytest.fixture(scope="session")
def empty_spatialite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SpatiaLite store with its tables and nothing in them, made once and copied per test."""
    path = tmp_path_factory.mktemp("empty") / "shequ.db"
    Store(f"sqlite:///{path}").dispose()
    return str(path)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    with _fresh(request.param, request, tmp_path) as url:
        yield url


class ChengduTemplates:
    """The Chengdu extract imported once per backend (``shequ import-osm``), copied for every test that
    needs it: the import takes seconds, a copy milliseconds."""

    def __init__(self, pbf: Path, folder: Path) -> None:
        self.pbf, self.folder = pbf, folder
        self.made: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.notes: list[str] = []

    def template(self, backend: str, request: pytest.FixtureRequest) -> str:
        if backend not in self.made:
            from shequ.layers.osm import import_osm

            if backend == "spatialite":
                name = str(self.folder / "chengdu.db")
                url = f"sqlite:///{name}"
            else:
                import psycopg

                server = request.getfixturevalue("postgres_url")
                with psycopg.connect(_conninfo(server), autocommit=True) as c:
                    c.execute("CREATE DATABASE chengdu_template TEMPLATE shequ_template")
                name, url = "chengdu_template", f"{server}/chengdu_template"
            store = Store(url)
            self.counts, self.notes = import_osm(store, self.pbf, show_progress=False)
            store.dispose()  # no connection may stay open on a template
            self.made[backend] = name
        return self.made[backend]


@pytest.fixture(scope="session")
def chengdu_templates(tmp_path_factory: pytest.TempPathFactory) -> ChengduTemplates:
    return ChengduTemplates(CHENGDU / "chengdu_central_osm2018.osm.pbf", tmp_path_factory.mktemp("chengdu"))


@pytest.fixture(params=BACKENDS)
def chengdu_url(request: pytest.FixtureRequest, tmp_path: Path, chengdu_templates: ChengduTemplates) -> Iterator[str]:
    """A database of its own holding the Chengdu extract's streets, facilities and residences (as
    ``shequ import-osm`` writes them), on each backend."""
    template = chengdu_templates.template(request.param, request)
    with _fresh(request.param, request, tmp_path, template) as url:
        yield url


@pytest.fixture(scope="session")
def chengdu_osm():
    """The Chengdu extract read once (``read_osm``): streets, facilities, residences, not validated."""
    from shequ.layers.osm import read_osm

    return read_osm(CHENGDU / "chengdu_central_osm2018.osm.pbf")


def _conninfo(server_url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(f"{server_url}/postgres")
    return f"host={u.host} port={u.port} user={u.username} dbname=postgres" + (
        f" password={u.password}" if u.password else "")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.dispose()


@pytest.fixture(scope="session")
def chengdu_pbf() -> Path:
    return CHENGDU / "chengdu_central_osm2018.osm.pbf"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download; no network)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        if os.environ.get("SHEQU_REQUIRE_BROWSER"):
            pytest.fail("chromium not installed: apt-get install chromium (make test does this)")
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and every request leaving this machine."""
    from urllib.parse import urlparse

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.console_errors = []
    pg.external_requests = []
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(str(e)))

    def record(request) -> None:
        url = urlparse(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.hostname not in ("127.0.0.1", "localhost"):
            pg.external_requests.append(request.url)

    pg.on("request", record)
    yield pg
    context.close()


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """The app served by uvicorn on a free local port, in a thread: real HTTP for real clients (GDAL,
    concurrent editors). Stopped when the block ends."""
    import threading
    import time

    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", workers=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Tests on the demo go to one worker (pytest-xdist ``--dist loadgroup``), which builds it once;
    marked as each is collected, before xdist reads the groups."""
    if {"demo_db", "demo_copy"} & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.xdist_group("demo"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers by what a test uses: ``browser`` (Chromium), ``gdal`` (GDAL's command-line tools);
    ``postgis`` comes with the PostGIS variant of the backend fixtures."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"page", "browser"}:
            item.add_marker(pytest.mark.browser)
        if "gdal" in names:
            item.add_marker(pytest.mark.gdal)
        if "postgres_url" in names:
            item.add_marker(pytest.mark.postgis)


@pytest.fixture(autouse=True)
def _quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id as in production, with the smallest work factors: the production ones (≈0.2 s per
    hash, on purpose) would make a fixture that logs in five users cost two seconds."""
    from argon2 import PasswordHasher

    from shequ.layers import users

    monkeypatch.setattr(users, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The Chengdu demo (OSM layers, drafted communities and grids, a coverage run, demo accounts) in a
    SpatiaLite file, built once per run (≈25 s) for the page tests. Tests that write copy it first."""
    folder = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{folder / 'shequ.db'}"
    build_demo(url, out=folder / "out").close()
    return url


def build_demo(url: str, out: Path | None = None):
    """The demo built into ``url`` through its use case; the workspace (close it when done)."""
    from shequ.settings import Settings
    from shequ.usecases.demo import build
    from shequ.usecases.workspace import Workspace

    return build(Workspace.open(url, Settings(database_url=url)), out=out, say=lambda _msg: None)


@pytest.fixture
def shot(tmp_path: Path):
    """Where a page test saves a picture (a function of the file name): ``docs/screenshots/`` when
    ``SHEQU_SCREENSHOTS=1`` (``make screenshots``), else the test's own folder, so a test run never
    changes tracked files."""
    def where(name: str) -> str:
        folder = ROOT / "docs" / "screenshots" if os.environ.get("SHEQU_SCREENSHOTS") else tmp_path
        return str(folder / name)
    return where


@pytest.fixture
def demo_copy(demo_db: str, tmp_path: Path) -> str:
    """A private copy of the demo database, for a test that edits it."""
    source = Path(demo_db.removeprefix("sqlite:///"))
    target = tmp_path / "shequ.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"
