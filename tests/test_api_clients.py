"""The API as real clients see it: GDAL's OGC API – Features driver (``ogrinfo``, ``ogr2ogr``) over HTTP, and a
schemathesis fuzz of every operation of the OpenAPI document at ``/api``.

GDAL is the client QGIS and most GIS tools use: if it lists the layers, follows the ``next`` links and copies
every feature as the store holds it, desktop users can work with the server. The fuzz sends what the OpenAPI
document allows (and, for the feature endpoints, real features with mangled values) and requires no 5xx, only
documented status codes and content types, and responses that match their documented schemas.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import traceback
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import schemathesis
import shapely
from conftest import live_server
from fastapi.testclient import TestClient

from shequ.api import crs as ogc_crs
from shequ.api.app import create_app
from shequ.api.planning import EXAMPLE_SCENARIO
from shequ.layers import users
from shequ.layers.schema import LAYERS, WRITE_ORDER
from shequ.layers.store import Store
from shequ.layers.validate import validate

import samples

ADMIN, PASSWORD = "admin", "secret123"
GDAL_TYPES = {"MultiPolygon": "Multi Polygon", "LineString": "Line String", "Polygon": "Polygon", "Point": "Point"}


@functools.cache
def _validated_samples() -> dict:
    return {name: validate(samples.SAMPLES[name](), LAYERS[name], source=name) for name in WRITE_ORDER}


def sample_layers() -> dict:
    """The sample layers, validated once (the fuzz restores them before every operation); copies, so a
    caller's changes stay its own."""
    return {name: frame.copy() for name, frame in _validated_samples().items()}


def load_samples(app) -> users.User:
    """Every sample layer in the app's store, and an admin user."""
    store: Store = app.state.store
    for name, frame in sample_layers().items():  # communities before the layers that reference them
        store.write(name, frame)
    return users.add_user(store.engine, ADMIN, PASSWORD, "admin")


# ---- GDAL ----------------------------------------------------------------------------------------
class Recorder:
    """An ASGI wrapper that notes every HTTP request (path, query, whether it carried a bearer token)."""

    def __init__(self, app) -> None:
        self.app = app
        self.requests: list[tuple[str, dict[str, list[str]], bool]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.requests.append((scope["path"], parse_qs(scope["query_string"].decode()),
                                  headers.get(b"authorization", b"").startswith(b"Bearer ")))
        await self.app(scope, receive, send)

    def items(self, layer: str) -> list[tuple[dict[str, list[str]], bool]]:
        return [(q, auth) for path, q, auth in self.requests if path == f"/collections/{layer}/items"]


@dataclass
class Served:
    store: Store
    base: str
    recorder: Recorder
    token: str


@pytest.fixture
def gdal() -> None:
    if shutil.which("ogrinfo") and shutil.which("ogr2ogr"):
        return
    if os.environ.get("SHEQU_REQUIRE_POSTGIS"):
        pytest.fail("GDAL command-line tools not installed: apt-get install gdal-bin (make test does this)")
    pytest.skip("GDAL command-line tools not installed: apt-get install gdal-bin")


@pytest.fixture
def served(gdal: None, db_url: str) -> Iterator[Served]:
    """The sample layers, served over real HTTP on both backends."""
    app = create_app(db_url)
    load_samples(app)
    recorder = Recorder(app)
    try:
        with live_server(recorder) as base:
            response = httpx.post(f"{base}/token", data={"username": ADMIN, "password": PASSWORD})
            assert response.status_code == 200, response.text
            recorder.requests.clear()
            yield Served(app.state.store, base, recorder, response.json()["access_token"])
    finally:
        app.state.store.dispose()


def ogr(*args: str) -> str:
    """Run a GDAL tool; its standard output. Fails on a non-zero exit or an ERROR on stderr."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "GDAL_HTTP_TIMEOUT": "60"}
    run = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0 and "ERROR" not in run.stderr, f"{' '.join(args)} failed:\n{run.stderr}{run.stdout}"
    return run.stdout


def bearer(token: str) -> list[str]:
    return ["--config", "GDAL_HTTP_HEADERS", f"Authorization: Bearer {token}"]


def _plain(value: object) -> object:
    """A stored or read-back value in one comparable form: None, bool, float or str."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    return value


def assert_same_as_store(store: Store, gpkg: Path, layer: str, *, personal: bool,
                         bbox: tuple[float, float, float, float] | None = None) -> None:
    """The GeoPackage layer GDAL wrote holds the store's features: same keys, same values of the fields this
    reader may see (and no others), geometries equal within 1e-7°."""
    spec = LAYERS[layer]
    want = store.read(layer)
    if bbox is not None:
        want = want[want.intersects(shapely.box(*bbox))]
    want = want.set_index(spec.key)
    got = pyogrio.read_dataframe(gpkg, layer=layer)
    visible = [f.name for f in spec.fields if personal or not f.personal]
    hidden = {f.name for f in spec.fields} - set(visible)
    # GDAL turns each Feature's "id" member into an "id" field: it must be the layer's key
    assert set(got.columns) == {"id", *visible, "version", "geometry"}, (layer, sorted(got.columns))
    assert not hidden & set(got.columns), f"{layer}: personal fields {hidden} reached an anonymous reader"
    assert sorted(got["id"]) == sorted(want.index), layer
    for _, row in got.iterrows():
        stored = want.loc[row["id"]]
        for name in visible:
            if name == spec.key:  # the key is both the Feature's id and a property
                assert row[name] == row["id"], (layer, row[name], row["id"])
                continue
            assert _plain(row[name]) == _plain(stored[name]), (layer, row["id"], name, row[name], stored[name])
        assert int(row["version"]) == int(stored["version"])
        a, b = shapely.normalize(row.geometry), shapely.normalize(stored.geometry)
        assert a.geom_type == b.geom_type and shapely.equals_exact(a, b, tolerance=1e-7), (layer, row["id"], a, b)


def test_gdal_lists_every_layer_with_its_title_and_geometry_type(served: Served) -> None:
    out = ogr("ogrinfo", "-ro", "-so", f"OAPIF:{served.base}")
    listed = set(re.findall(r"^\d+: (.+)$", out, flags=re.MULTILINE))
    expected = set()
    for name, spec in LAYERS.items():
        line = f"{name} (title: {spec.en} ({spec.zh}))"
        expected.add(f"{line} ({GDAL_TYPES[spec.geometry[0]]})" if len(spec.geometry) == 1 else line)
    assert listed == expected, out


@pytest.mark.parametrize("reader", ["anonymous", "logged in"])
def test_gdal_copies_every_layer_as_the_store_holds_it(served: Served, tmp_path: Path, reader: str) -> None:
    """ogr2ogr from the server to a GeoPackage: every feature, with the personal fields (grid manager,
    phone) only for a reader who sent a bearer token."""
    logged_in = reader == "logged in"
    out = tmp_path / "copy.gpkg"
    ogr("ogr2ogr", "-f", "GPKG", *(bearer(served.token) if logged_in else []), str(out), f"OAPIF:{served.base}")
    assert sorted(name for name, _ in pyogrio.list_layers(out)) == sorted(LAYERS)
    for layer in LAYERS:
        requests = served.recorder.items(layer)
        assert requests and all(auth == logged_in for _, auth in requests), (layer, requests)
        assert_same_as_store(served.store, out, layer, personal=logged_in)
    grids = pyogrio.read_dataframe(out, layer="grids")
    assert ("manager_phone" in grids.columns) == logged_in
    if logged_in:
        assert sorted(grids["manager"]) == ["张三", "李四"]


def test_gdal_follows_next_links_page_by_page(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "paged.gpkg"
    ogr("ogr2ogr", "-f", "GPKG", "-oo", "PAGE_SIZE=1", str(out), f"OAPIF:{served.base}")
    for layer in LAYERS:
        count = served.store.count(layer)
        assert count >= 2, f"{layer}: the sample needs two features at least for paging to mean anything"
        requests = [q for q, _ in served.recorder.items(layer)]
        assert all(q.get("limit") == ["1"] for q in requests), (layer, requests)
        offsets = sorted({int(q.get("offset", ["0"])[0]) for q in requests})
        assert offsets == list(range(count)), f"{layer}: GDAL asked for offsets {offsets} of {count} features"
        assert_same_as_store(served.store, out, layer, personal=False)


def test_gdal_spatial_filter_is_sent_as_bbox_and_answered_in_lon_lat(served: Served, tmp_path: Path) -> None:
    """``-spat`` becomes ``bbox=minlon,minlat,maxlon,maxlat`` (CRS84): the server must answer in that axis
    order, else GDAL's own client-side filter drops what came back and the copy is short."""
    box = (104.085, 30.650, 104.095, 30.656)  # the east half of the samples: F2, R2, …
    out = tmp_path / "east.gpkg"
    ogr("ogr2ogr", "-f", "GPKG", "-spat", *map(str, box), str(out), f"OAPIF:{served.base}", "facilities",
        "residences", "streets")
    for layer in ("facilities", "residences", "streets"):
        sent = [q["bbox"][0] for q, _ in served.recorder.items(layer) if "bbox" in q]
        assert sent, f"GDAL did not send bbox for {layer}: {served.recorder.items(layer)}"
        assert np.allclose([float(v) for v in sent[0].split(",")], box)
        everything = served.store.count(layer)
        inside = served.store.read(layer)
        inside = inside[inside.intersects(shapely.box(*box))]
        assert 0 < len(inside) < everything, f"{layer}: the box must keep some features and drop others"
        assert_same_as_store(served.store, out, layer, personal=False, bbox=box)


# ---- schemathesis ---------------------------------------------------------------------------------
# generated requests per operation and reader (plus schemathesis's coverage cases); `make check` asks for fewer
EXAMPLES = int(os.environ.get("SHEQU_FUZZ_EXAMPLES", "25"))
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "response_headers_conformance"]


@dataclass
class Fuzz:
    """What a fuzz run saw: status codes per operation, and the failures with their reproduction."""

    operations: list[str] = field(default_factory=list)
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, str] = field(default_factory=dict)


def _checks() -> list:
    from schemathesis import checks
    from schemathesis.specs.openapi import checks as openapi_checks

    return [getattr(checks, name, None) or getattr(openapi_checks, name) for name in CHECKS]


def _feature_strategies(features: list[tuple[str, dict]]):
    """Hypothesis strategies for real targets and for feature bodies with mangled property values."""
    from hypothesis import strategies as st

    scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))
    values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=5), scalars, max_size=2)
    geometries = st.sampled_from([None, *(f["geometry"] for _, f in features)])

    @st.composite
    def body(draw, layer: str, feature: dict, new: bool) -> dict:
        """The feature (or, ``new``, a copy under a key not taken yet) with up to three values mangled."""
        spec = LAYERS[layer]
        props = dict(feature["properties"])
        if new:  # 510104017001 → 510104017009, F1 → F9: still matches the key's pattern
            props[spec.key] = feature["id"][:-1] + "9"
        for name in draw(st.lists(st.sampled_from([*props, *spec.field_names]), unique=True, max_size=3)):
            props[name] = draw(values)
        geometry = draw(st.just(feature["geometry"]) | geometries)
        return {"type": "Feature", "id": props.get(spec.key), "properties": props, "geometry": geometry}

    def targets(layer: str | None):
        return st.sampled_from([(name, f) for name, f in features if layer in (None, name)])

    return targets, body


def _with_coverage_cases(test, op, schema):
    """Add schemathesis's coverage phase (boundary and just-invalid values of every parameter and body
    property: empty lists, minimum and maximum, each enum value, each missing required part …) as explicit
    examples. The random fuzz alone finds a bug such as ``{"types": []}`` only by luck. This is schemathesis's
    own test builder (``schemathesis.generation.hypothesis.builder``, not public API): if a later schemathesis
    moves it, the fuzz goes on without these cases and says so."""
    try:
        from schemathesis import GenerationMode
        from schemathesis.generation.feedback import FeedbackSources
        from schemathesis.generation.hypothesis.builder import add_coverage
        from schemathesis.generation.overrides import Override

        return add_coverage(test, op, [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], None, Override(),
                            feedback=FeedbackSources(),
                            generation_config=schema.config.generation_for(operation=op, phase="coverage"))
    except (ImportError, AttributeError, TypeError) as exc:
        warnings.warn(f"schemathesis coverage cases unavailable ({exc!r}): fuzzing only", stacklevel=2)
        return test


def fuzz(app, headers_for, examples: int = EXAMPLES) -> Fuzz:
    """Every operation of the app's OpenAPI document: its coverage cases, then ``examples`` generated requests
    (seeded), most of those aimed at a real feature, with ``If-Match: *`` and a body made from it. Each
    operation starts from the sample layers (the ones before may have edited or deleted features), so what
    one operation finds does not depend on the others."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    checks = _checks()
    with TestClient(app) as client:
        features = [(layer, f) for layer in LAYERS
                    for f in client.get(f"/collections/{layer}/items", params={"limit": 100}, headers=headers_for())
                    .json()["features"]]
    targets, feature_body = _feature_strategies(features)
    schema = schemathesis.openapi.from_asgi("/api", app)
    seen = Fuzz()

    def fuzz_one(op) -> None:
        method = op.method.upper()
        aims = "{featureId}" in op.path or (method == "POST" and op.path.endswith("/items"))
        fixed = re.match(r"/collections/(\w+)/", op.path)  # e.g. /collections/grids/items/{featureId}/split
        layer_in_path = fixed.group(1) if fixed else None
        declared = {p.name for p in op.headers}
        feature_in_body = method in ("POST", "PUT", "PATCH") and re.search(r"/items(/\{featureId\})?$", op.path)

        @st.composite
        def cases(draw):
            case = draw(op.as_strategy())
            if case.headers and "Authorization" in case.headers and draw(st.integers(0, 3)):
                # schemathesis makes up bearer tokens (HTTPBearer is the security scheme) that the server
                # refuses with 401: keep a quarter of them, send the reader's own credentials otherwise
                case.headers = {k: v for k, v in case.headers.items() if k != "Authorization"}
            if aims and draw(st.integers(0, 3)):  # three in four on a real feature
                layer, feature = draw(targets(layer_in_path))
                path = {**case.path_parameters}
                if "{collectionId}" in op.path:
                    path["collectionId"] = layer
                if "{featureId}" in op.path:
                    path["featureId"] = feature["id"]
                case.path_parameters = path
                headers = {k: v for k, v in (case.headers or {}).items() if k != "Content-Crs"}
                if "Content-Crs" in declared:  # a made-up one is refused (400) before anything else is looked at
                    content_crs = draw(st.sampled_from([None, *ogc_crs.SUPPORTED]))
                    headers.update({"Content-Crs": f"<{content_crs}>"} if content_crs else {})
                if "If-Match" in declared and draw(st.integers(0, 3)):
                    headers["If-Match"] = "*"
                case.headers = headers
                if feature_in_body and draw(st.booleans()):
                    case.body = draw(feature_body(layer, feature, new=method == "POST" and draw(st.booleans())))
            return case

        @settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=False,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=cases())
        def run(case) -> None:
            headers = headers_for()
            response = case.call(headers=headers)
            seen.statuses[op.label][response.status_code] += 1
            case.validate_response(response, checks=checks, headers=headers)

        try:
            _with_coverage_cases(run, op, schema)()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis's FailureGroup is a BaseExceptionGroup
            # a check failed or the app raised: note it, go on with the other operations
            ours = [f"  {f.filename}:{f.lineno} in {f.name}" for f in traceback.extract_tb(exc.__traceback__)
                    if re.search(r"/(api|layers|gis)/[^/]+\.py$", f.filename)]
            seen.failures[op.label] = "".join(traceback.format_exception_only(exc)) + "\n".join(ours[-3:])

    for result in schema.get_all_operations():
        op = result.ok()
        seen.operations.append(op.label)
        app.state.store.write_layers(sample_layers(), mode="replace")
        _example_scenario(app)
        fuzz_one(op)
    return seen


def _example_scenario(app) -> None:
    """The scenario the OpenAPI document's examples name, there for every operation (a DELETE before may
    have removed it), so the scenario operations get past 404 to their checks and answers."""
    from shequ.errors import NotFound
    from shequ.layers import scenarios

    try:
        scenarios.get(app.state.store.engine, EXAMPLE_SCENARIO)
    except NotFound:
        scenarios.create(app.state.store.engine, EXAMPLE_SCENARIO)


# Reads that must answer 2xx at least once in a run: a fuzz that only ever got 401 or 404 tested nothing.
PUBLIC_READS = ["GET /", "GET /conformance", "GET /health", "GET /collections", "GET /collections/{collectionId}",
                "GET /collections/{collectionId}/items", "GET /collections/{collectionId}/items/{featureId}"]
ADMIN_READS = [*PUBLIC_READS, "GET /users/me", "GET /users", "GET /analyses/scorecard", "GET /analyses/lifecircles",
               "GET /exports/{collectionId}", "GET /scenarios", "GET /scenarios/{name}"]


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["anonymous", "admin"])
def test_fuzzing_every_operation_finds_no_server_error_and_no_schema_violation(tmp_path: Path, reader: str) -> None:
    """schemathesis over the whole OpenAPI document, on SpatiaLite with the sample layers: no 5xx, only
    documented status codes and content types, every response as its documented schema says."""
    app = create_app(f"sqlite:///{tmp_path / 'fuzz.db'}")
    admin = load_samples(app)
    engine = app.state.store.engine

    def headers_for() -> dict | None:
        if reader == "anonymous":
            return None
        # the fuzz deletes users and logs out (which revokes the token sent): a fresh token each request,
        # and the admin back if a DELETE /users/{name} removed them
        if ADMIN not in {u.name for u in users.list_users(engine)}:
            users.add_user(engine, ADMIN, PASSWORD, "admin")
        return {"Authorization": f"Bearer {users.issue_token(engine, admin)[0]}"}

    try:
        seen = fuzz(app, headers_for)
    finally:
        app.state.store.dispose()
    if seen.failures:
        report = "\n\n".join(f"{label}:\n{text}" for label, text in seen.failures.items())
        pytest.fail(f"{len(seen.failures)} of {len(seen.operations)} operations failed:\n\n{report}", pytrace=False)
    assert len(seen.operations) >= 20 and set(seen.statuses) == set(seen.operations), "every operation was called"
    quiet = [label for label in (ADMIN_READS if reader == "admin" else PUBLIC_READS)
             if not any(200 <= code < 300 for code in seen.statuses[label])]
    assert not quiet, f"never answered 2xx: {quiet}; statuses: {dict(seen.statuses)}"
