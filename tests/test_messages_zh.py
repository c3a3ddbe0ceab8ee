"""Chinese everywhere (issue 14, item 7): every error answer a page user can meet carries a Chinese
description (``description_zh``) beside the English, and each problem its ``message_zh``; a raise
site without its own Chinese still gets a Chinese lead; the error page shows the Chinese with the
English on the language switch. SpatiaLite is enough: the messages do not depend on the backend."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import live_server
from fastapi.testclient import TestClient
from shapely.geometry import box, mapping

from shequ import errors
from shequ.api.app import create_app
from shequ.layers import users
from shequ.layers.schema import LAYERS
from shequ.layers.validate import validate

import samples

A = samples.CODE_A
WEST, EAST = A + "001", A + "002"
PASSWORD = "secret-123"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def client(empty_spatialite: str, tmp_path: Path) -> Iterator[TestClient]:
    path = tmp_path / "shequ.db"
    shutil.copyfile(empty_spatialite, path)
    app = create_app(f"sqlite:///{path}")
    store = app.state.store
    frames = {"subdistricts": samples.subdistricts(), "communities": samples.communities(), "grids": samples.grids(),
              "facilities": samples.facilities(),
              "residences": samples.residences(), "streets": samples.streets()}
    store.write_layers({n: validate(f, LAYERS[n], source=n) for n, f in frames.items()})
    for name, role, areas in (("planner", "planner", []), ("bureau", "bureau", []), ("manager", "grid_manager", [A])):
        users.add_user(store.engine, name, PASSWORD, role, areas)
    with TestClient(app) as c:
        yield c
    store.dispose()


def _login(c: TestClient, name: str) -> dict:
    r = c.post("/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _chinese(r, status: int, *, words: str = "") -> dict:
    """The answer has the status, an English description and a Chinese one with CJK characters (and
    ``words`` in it), and every problem has a Chinese message too."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["description"] and not CJK.match(body["description"])
    assert CJK.search(body["description_zh"]), body
    assert words in body["description_zh"], body["description_zh"]
    for p in body.get("problems", []):
        assert CJK.search(p["message_zh"]), p
    return body


def test_typical_bad_requests_answer_in_chinese_too(client: TestClient) -> None:
    c = client
    # a bad parameter, caught by FastAPI (not a number) and by shequ (a field that is not a filter)
    _chinese(c.get("/collections/grids/items?limit=many"), 400, words="请求参数无效")
    _chinese(c.get("/collections/grids/items?colour=red"), 400, words="未知的参数")
    # login refused; not logged in; a token that is no longer valid
    _chinese(c.post("/token", data={"username": "planner", "password": "wrong-password"}), 400,
             words="用户名或密码错误")
    _chinese(c.post("/analyses/coverage", json={}), 401, words="需要登录")
    _chinese(c.post("/analyses/coverage", json={}, headers={"Authorization": "Bearer nonsense"}), 401,
             words="重新登录")
    planner = _login(c, "planner")
    # an unknown facility type, with the Chinese name of the type it probably means
    body = _chinese(c.post("/analyses/coverage", json={"types": ["kindergarden"]}, headers=planner), 400,
                    words="未知的设施类型")
    assert "幼儿园" in body["description_zh"]
    # forbidden: a bureau may not edit grids; a grid manager only their own community
    tag = c.get(f"/collections/grids/items/{WEST}").headers["ETag"]
    bureau = _login(c, "bureau") | {"If-Match": tag}
    _chinese(c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"name": "x"}}, headers=bureau), 403,
             words="仅限")


def test_edit_refusals_say_in_chinese_what_was_wrong(client: TestClient) -> None:
    c = client
    manager = _login(c, "manager")
    tag = c.get(f"/collections/grids/items/{WEST}").headers["ETag"]
    # overlap refused: the refusal and its problem in Chinese, naming the other grid
    wider = mapping(box(104.080, 30.650, 104.084, 30.655))
    body = _chinese(c.patch(f"/collections/grids/items/{WEST}", json={"geometry": wider},
                            headers=manager | {"If-Match": tag}), 422, words="未保存")
    (overlap,) = [p for p in body["problems"] if p["check"] == "overlap"]
    assert "重叠" in overlap["message_zh"] and EAST in overlap["message_zh"]
    # a stale edit: someone saved since this editor read the grid
    assert c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"name": "新名"}},
                   headers=manager | {"If-Match": tag}).status_code == 200
    _chinese(c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"name": "旧名"}},
                     headers=manager | {"If-Match": tag}), 412, words="已被他人修改")
    # no If-Match at all; a schema problem (households not a number), with the field's problem in Chinese
    _chinese(c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"name": "x"}}, headers=manager), 428)
    tag = c.get(f"/collections/grids/items/{WEST}").headers["ETag"]
    body = _chinese(c.patch(f"/collections/grids/items/{WEST}", json={"properties": {"households": "many"}},
                            headers=manager | {"If-Match": tag}), 422, words="不是数字")
    assert body["problems"][0]["field"] == "households"


def test_an_address_that_does_not_exist_says_so_in_chinese(client: TestClient) -> None:
    _chinese(client.get("/collections/grids/nothing-here"), 404, words="未找到")
    r = client.get("/maps/nothing-here", headers={"Accept": "text/html"})
    assert r.status_code == 404 and 'id="sq-error"><span class="zh">未找到' in r.text


def test_a_message_without_its_own_chinese_gets_a_chinese_lead() -> None:
    exc = errors.InvalidInput("bbox: four numbers")
    assert exc.text_zh() == "请求参数无效：bbox: four numbers"
    assert errors.NotFound("no such thing").text_zh().startswith("未找到：")
    assert errors.InvalidInput("x", zh="坏了").text_zh() == "坏了"
    (problem,) = errors.InvalidFeature("x", problems=[{"check": "c", "message": "English only"}]).problem_dicts()
    assert problem["message_zh"] == "问题：English only"
    # every code of the family has a Chinese lead
    family = [errors.ShequError, *[k for k in vars(errors).values()
                                   if isinstance(k, type) and issubclass(k, errors.ShequError)]]
    assert {k.code for k in family} <= set(errors.ZH_LEAD)


def test_the_error_page_shows_chinese_with_english_on_the_switch(client: TestClient) -> None:
    c = client
    r = c.get("/maps/coverage")  # not logged in: the page with the login box
    assert r.status_code == 401
    zh = re.search(r'id="sq-error"><span class="zh">([^<]*)</span><span class="en">([^<]*)</span>', r.text)
    assert zh and CJK.search(zh.group(1)) and zh.group(2) and not CJK.search(zh.group(2)), r.text[:2000]
    # a bad parameter of a page, logged in by the cookie
    assert c.post("/login", data={"username": "planner", "password": PASSWORD}).status_code == 200
    r = c.get("/maps/coverage?mode=flying")
    assert r.status_code == 400
    zh = re.search(r'id="sq-error"><span class="zh">([^<]*)</span>', r.text)
    assert zh and "mode" in zh.group(1) and CJK.search(zh.group(1))
    # a parameter of the wrong kind (FastAPI's check) is a page too, not a JSON body
    r = c.get("/maps/access?distance=far")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    zh = re.search(r'id="sq-error"><span class="zh">([^<]*)</span>', r.text)
    assert zh and "distance" in zh.group(1) and "应为数字" in zh.group(1)


def test_every_problem_of_a_file_is_in_chinese() -> None:
    frame = samples.facilities()
    frame["type"] = ["kindergarden", "幼儿园", "community_service_centre"]
    frame["floor_area_m2"] = pd.Series(["big", 900, 450], dtype=object)
    with pytest.raises(errors.InvalidFeature) as caught:
        validate(frame, LAYERS["facilities"], source="f.geojson")
    dicts = caught.value.problem_dicts()
    assert len(dicts) == 2 and all(CJK.search(d["message_zh"]) for d in dicts)
    assert "第 1 个要素" in caught.value.text_zh() and "幼儿园" in caught.value.text_zh()


def test_areas_are_named_not_coded(client: TestClient) -> None:
    """The access page says which area it shows by its name: the community's, the street's (from the
    subdistricts layer), the district's; the code only where the data have no name."""
    c = client
    assert c.post("/login", data={"username": "planner", "password": PASSWORD}).status_code == 200
    ws = c.app.state.workspace
    snap = ws.snapshot()
    assert snap.area(A)[2] == ("水井坊社区", "水井坊社区 (community)")
    assert snap.area(A[:9])[2] == ("锦官驿街道（2 个社区）", "锦官驿街道 (2 communities)")
    assert snap.area(A[:6])[2] == ("锦江区（2 个社区）", "锦江区 (2 communities)")
    r = c.get(f"/maps/access?type=kindergarten&area={A[:9]}")
    assert r.status_code == 200, r.text[:500]
    heading = re.search(r"≤ [\d.]+ m: <span class=\"zh\">([^<]*)</span><span class=\"en\">([^<]*)</span>", r.text)
    assert heading and heading.groups() == ("锦官驿街道（2 个社区）", "锦官驿街道 (2 communities)")


def test_a_page_shows_the_servers_message_in_chinese_with_english_on_the_switch(client: TestClient, page) -> None:
    """shequ.message (web/static/shequ.js) in a real browser: a refused request's answer, shown in the
    page's language and switched with it."""
    with live_server(client.app) as base:
        page.goto(base + "/maps/nowhere")  # any page with the script: the 404 page
        page.evaluate("() => shequ.login('planner', 'secret-123')")
        page.evaluate("""async () => {
            const r = await shequ.api('/scenarios', { method: 'POST', json: { name: 'no spaces allowed' } });
            const box = document.createElement('div');
            box.id = 'said';
            box.innerHTML = shequ.message(await r.json(), r.statusText);
            document.body.appendChild(box);
        }""")
        said = page.inner_text("#said")
        assert "不合规" in said and "no spaces allowed" in said and "invalid" not in said.lower(), said
        page.click("#sq-lang")
        english = page.inner_text("#said")
        assert not CJK.search(english.replace("no spaces allowed", "")) and english, english
        # the browser logs the two refused loads (the 404 page, the 400 answer); nothing else may fail
        assert [e for e in page.console_errors if "Failed to load resource" not in e] == []
        assert page.external_requests == []
