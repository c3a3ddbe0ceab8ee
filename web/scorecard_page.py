"""The scorecard pages: the district overview (``/reports/scorecard``) and one community
(``/reports/scorecard/{code}``), in the app's frame. Renders a ``ScorecardOutcome`` / ``CommunityCard``
of ``shequ.usecases.scorecards``; computes nothing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd

from shequ.layers import catalog
from shequ.layers.profiles import Profile
from shequ.web.offline import ATTRIBUTION
from shequ.web.pages import page, t
from shequ.web.report import CSS as REPORT_CSS
from shequ.web.report import GOOD, MID, district_map, scorecard_body, status_badge


def _options(items: Iterable[tuple[str, str, bool]]) -> str:
    return "".join(f'<option value="{html.escape(v)}"{" selected" if sel else ""}>{html.escape(label)}</option>'
                   for v, label, sel in items)


def _pct(value: object) -> str:
    return "—" if value is None or not np.isfinite(float(value)) else f"{float(value):.0%}"


#: the report's own language switch is replaced by the frame's: keep its body.en class in step
_LANG_SYNC = """<script>(function(){function s(){document.body.classList.toggle('en',
document.documentElement.lang==='en');}document.addEventListener('DOMContentLoaded',function(){s();
new MutationObserver(s).observe(document.documentElement,{attributes:true,attributeFilter:['lang']});});})();
</script>"""
_REPORT_FIX = ("<style>main{padding-top:60px !important}th{top:48px !important}.sq-bar{display:flex;flex-wrap:wrap;"
               "gap:8px;align-items:end;margin:8px 0}.sq-bar label{display:block;font-size:12px;color:#4a5568}"
               ".sq-bar select{padding:5px;min-width:160px}.sq-links a{display:inline-block;margin:2px 8px 2px 0}"
               "</style>")


def _profile_bar(profile: str, profiles: Sequence[str], communities: gpd.GeoDataFrame, code: str = "") -> str:
    """Choose the profile and a community: a GET form (the community select navigates by script)."""
    comm_opts = [("", "全部社区（总览）All communities (overview)", not code)]
    comm_opts += [(str(c), f"{n} ({c})", str(c) == code)
                  for c, n in zip(communities["code"], communities["name"].astype(str), strict=True)]
    return (f'<form class="sq-bar" method="get" action="/reports/scorecard" id="sq-scorecard-form">'
            f'<div><label for="sq-profile">{t("政策配置", "Policy profile")}</label>'
            f'<select id="sq-profile" name="profile" onchange="this.form.submit()">'
            f'{_options([(p, p, p == profile) for p in profiles])}</select></div>'
            f'<div><label for="sq-community">{t("社区", "Community")}</label><select id="sq-community" '
            f"onchange=\"location.href='/reports/scorecard'+(this.value?'/'+encodeURIComponent(this.value):'')"
            f"+'?profile='+encodeURIComponent(document.getElementById('sq-profile').value)\">"
            f"{_options(comm_opts)}</select></div>"
            f'<noscript><button type="submit">OK</button></noscript></form>')


def scorecard_overview_page(outcome: Any) -> str:
    """The district overview (the written report's content, with its charts and maps) in the app's frame."""
    card, profile, communities = outcome.card, outcome.profile, outcome.communities
    body = scorecard_body(card, profile, communities, notes=outcome.notes, attribution=ATTRIBUTION)
    links = "".join(f'<a href="/reports/scorecard/{html.escape(str(c))}?profile={profile.name}">'
                    f"{html.escape(str(n))}</a>" for c, n in zip(communities["code"], communities["name"], strict=True))
    bar = (_profile_bar(profile.name, outcome.profiles, communities)
           + f'<details class="sq-links"><summary>{t("各社区评分卡", "Each community’s scorecard")}'
             f" ({len(communities)})</summary>{links}</details>")
    return page(f"社区体检 Community scorecard — {profile.name}", f"<main>{bar}{body}</main>",
                active="/reports/scorecard", extra_head=f"<style>{REPORT_CSS}</style>{_REPORT_FIX}",
                scripts=_LANG_SYNC)


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return f'<span class="small">{t("不评判", "not judged")}</span>'
    if ok:
        return f'<span class="ok">{t("达标", "meets")}</span>'
    return f'<span class="no">{t("未达标", "does not meet")}</span>'


def _community_measure(rule: str, row: dict, names: dict, profile: Profile) -> tuple[str, bool | None]:
    """This community's value for one scorecard rule, and whether it meets it (None: not judged)."""
    missing = {s.strip() for s in str(row.get("required_missing") or "").split(",") if s.strip()}
    if rule == "community_households":
        off = row.get("size_off_by", 0)
        text = f"{row['households']:,} 户 households" + (f" ({off:+,})" if off else "")
        return text, row.get("size_check") == "within"
    if rule == "service_centre_present":
        return f"{row.get('centre_count', 0)} 处 centres", row.get("centre_count", 0) > 0
    if rule == "service_centre":
        return (f"{row.get('centre_m2', 0):,.0f} / {row.get('centre_required_m2', 0):,.0f} m² "
                f"({row.get('centre_check', '')})"), row.get("centre_check") == "meets"
    if rule == "service_centre_min_m2":
        least = float(profile.value("service_centre_min_m2", 0) or 0)
        return (f"{row.get('centre_m2', 0):,.0f} m²",
                bool(row.get("centre_m2", 0) >= least and row.get("centre_area_unknown", 0) == 0))
    if rule == "one_stop":
        return f"{row.get('one_stop_m2', 0):,.0f} m² ({row.get('one_stop_check', '')})", row.get("one_stop_check") == \
            "meets"
    if rule == "required_facilities":
        return f"{row.get('required_present', 0)} / {row.get('required_total', 0)}", \
            row.get("required_present") == row.get("required_total")
    if rule.startswith("required:"):
        k = rule.split(":", 1)[1]
        here = names[k].name_zh not in missing
        return (t("有", "present") if here else t("缺", "missing")), here
    if rule == "staff":
        lo, hi = row.get("staff_needed_min"), row.get("staff_needed_max")
        return (f"{lo}–{hi}" if hi != lo else f"{lo}") + " 人 people", None
    if rule.startswith("funding_"):
        v = row.get(f"{rule}_cny")
        return ("—" if v is None or pd.isna(v) else f"{int(v):,} CNY"), None
    if rule == "grids":
        return f"{row.get('grids', 0)} ({row.get('grid_check', '')})", row.get("grid_check") == "meets"
    return "—", None


def community_scorecard_page(cc: Any) -> str:
    """One community against every rule of the profile: its measure, the rule's source and status,
    shortfalls, the required facilities present or missing, and its grids (a ``CommunityCard``)."""
    card, profile, code, row = cc.card, cc.profile, cc.code, cc.row
    names = catalog.load_facility_types()
    rules_rows = []
    for r in card.rules.drop_duplicates("rule").to_dict("records"):
        if str(r["rule"]).startswith("target:"):
            continue
        measure, ok = _community_measure(str(r["rule"]), row, names, profile)
        value = "" if r.get("value") is None or (isinstance(r.get("value"), float) and pd.isna(r["value"])) \
            else f"{r['value']} {r.get('unit', '')}"
        label = t(str(r.get("label_zh") or r["label"]).strip(), str(r["label"]).strip())
        inherited = f' <span class="small">{t("继承 national", "from national")}</span>' if r.get("inherited") else ""
        rules_rows.append(f'<tr data-rule="{html.escape(str(r["rule"]))}"><td>{label}</td>'
                          f"<td>{html.escape(value)}</td><td>{measure}</td><td>{_verdict(ok)}</td>"
                          f"<td>{html.escape(str(r.get('source', '')))} {status_badge(str(r.get('status', '')))}"
                          f"{inherited}</td></tr>")
    rules_table = (f"<table><tr><th>{t('规则', 'Rule')}</th><th>{t('标准', 'Standard')}</th>"
                   f"<th>{t('本社区', 'This community')}</th><th>{t('结论', 'Verdict')}</th>"
                   f"<th>{t('来源与核实状态', 'Source and status')}</th></tr>{''.join(rules_rows)}</table>")

    shortfalls = []
    if row.get("size_check") in ("below", "above"):
        shortfalls.append(t(f"户数{'偏少' if row['size_check'] == 'below' else '偏多'} {abs(row['size_off_by']):,} 户",
                            f"{abs(row['size_off_by']):,} households {row['size_check']} the range"))
    if row.get("centre_shortfall_m2", 0) and row["centre_shortfall_m2"] > 0:
        shortfalls.append(t(f"综合服务设施面积缺 {row['centre_shortfall_m2']:,.0f} m²",
                            f"service-centre floor area short by {row['centre_shortfall_m2']:,.0f} m²"))
    if row.get("required_missing"):
        shortfalls.append(t(f"缺少应配设施：{row['required_missing']}",
                            "missing required facilities: " + ", ".join(
                                next((v.name_en for v in names.values() if v.name_zh == s.strip()), s.strip())
                                for s in str(row["required_missing"]).split(","))))
    for k in card.types:
        rate = row.get(f"coverage_{k}")
        if rate is not None and np.isfinite(rate) and rate < 1:
            shortfalls.append(t(f"{names[k].name_zh}：步行可达的户数仅占 {rate:.0%}",
                                f"{names[k].name_en}: only {rate:.0%} of households within walking distance"))

    geo, grids, grid_range = cc.community, cc.grids, cc.grid_range
    grid_rows = []
    for g in grids.to_dict("records"):
        hh = g.get("households")
        in_range = g.get("in_range")
        found = g.get("findings") or []
        grid_rows.append(f"<tr><td>{html.escape(str(g['code']))}</td><td>{html.escape(str(g.get('name') or ''))}</td>"
                         f"<td class=num>{'—' if hh is None or pd.isna(hh) else f'{int(hh):,}'}</td>"
                         f"<td>{_verdict(in_range)}</td>"
                         f"<td>{t('有', 'yes') if g.get('manager') else t('无', 'no')}</td>"
                         f"<td>{t('有', 'yes') if g.get('party_branch') else t('无', 'no')}</td>"
                         f"<td class=small>{html.escape('; '.join(found))}</td></tr>")
    gaps_found = cc.gap_messages
    grid_table = (f"<table><tr><th>{t('网格', 'Grid')}</th><th>{t('名称', 'Name')}</th><th>{t('户数', 'Households')}"
                  f"</th><th>{t('户数达标', 'In range')}"
                  + (f" ({grid_range[0]:,}–{grid_range[1]:,})" if grid_range else "")
                  + f"</th><th>{t('网格员', 'Manager')}</th><th>{t('党支部', 'Party branch')}</th>"
                  f"<th>{t('拓扑问题', 'Findings')}</th></tr>{''.join(grid_rows)}</table>"
                  + ("".join(f"<p class=small>{html.escape(m)}</p>" for m in gaps_found))) if len(grids) else \
        f"<p>{t('该社区没有网格', 'No grids in this community')}</p>"

    fac_rows = "".join(f"<tr><td>{html.escape(names[k].name_zh if k in names else k)}</td>"
                       f"<td>{html.escape(names[k].name_en if k in names else k)}</td><td class=num>{n}</td></tr>"
                       for k, n in cc.facilities.items())
    fac_table = (f"<table><tr><th>类型</th><th>Type</th><th class=num>{t('数量', 'Count')}</th></tr>{fac_rows}</table>"
                 if fac_rows else f"<p>{t('社区内没有设施记录', 'No facilities recorded inside')}</p>")

    svg = ""
    if len(geo):
        shapes = pd.concat([geo[["geometry"]], grids[["geometry"]]], ignore_index=True)
        shapes = gpd.GeoDataFrame(shapes, geometry="geometry", crs=4326)
        colours = ["#e2e8f0"] + [GOOD if (grid_range and gh is not None and not pd.isna(gh)
                                          and grid_range[0] <= gh <= grid_range[1]) else MID
                                 for gh in grids["households"]] if len(grids) else ["#e2e8f0"]
        titles = [f"{code} {row['name']}"] + [f"{g} {gh}" for g, gh in zip(grids["code"], grids["households"],
                                                                               strict=True)]
        svg = district_map(shapes, colours, titles, size=320)
    coverage_rows = "".join(f"<tr><td>{t(names[k].name_zh, names[k].name_en)}</td>"
                            f"<td class=num>{_pct(row.get('coverage_' + k))}</td></tr>" for k in card.types)
    coverage_table = (f"<h2>{t('步行覆盖（户数）', 'Walking coverage (households)')}</h2><table>"
                      f"<tr><th>{t('设施', 'Facility')}</th><th class=num>{t('覆盖率', 'Rate')}</th></tr>"
                      f"{coverage_rows}</table><p class=small><a href=\"/maps/coverage?"
                      f"{urlencode({'area': code, 'types': ','.join(card.types)})}\">"
                      f"{t('在覆盖地图上查看', 'Open on the coverage map')}</a></p>") if card.types else ""
    draft_note = t("社区与网格边界为 shequ 草拟，并非官方边界。",
                   "Community and grid boundaries are shequ drafts, not official ones.")
    draft = f'<div class="banner">{draft_note}</div>' if row.get("boundary") == "draft" else ""
    notes = "".join(f'<div class="banner">{html.escape(n)}</div>' for n in cc.overview.notes)
    short_html = ("<ul>" + "".join(f"<li>{s}</li>" for s in shortfalls) + "</ul>") if shortfalls else \
        f"<p class=ok>{t('未发现缺口', 'No shortfalls found')}</p>"
    bar = _profile_bar(profile.name, cc.overview.profiles, cc.overview.communities, code)
    body = f"""<main id="sq-community-card">{bar}
<p class="small"><a href="/reports/scorecard?profile={profile.name}">← {t('总览', 'Overview')}</a></p>
<h1>{html.escape(str(row['name']))} <span class="sub">{html.escape(code)}</span></h1>
<div class="sub">{html.escape(str(row.get('district') or ''))} · {row['households']:,} {t('户', 'households')} ·
{t('配置', 'profile')} <code>{html.escape(profile.name)}</code> ({html.escape(profile.title_zh)})</div>{draft}{notes}
<div class="maps"><figure>{svg}<figcaption>{t('社区与网格（绿：户数达标）', 'Community and grids (green: in range)')}
</figcaption></figure><div style="flex:1;min-width:260px"><h2>{t('缺口', 'Shortfalls')}</h2>{short_html}
{coverage_table}</div></div>
<h2>{t('逐条规则', 'Rule by rule')}</h2>{rules_table}
<h2>{t('社区内设施', 'Facilities inside')}</h2>{fac_table}
<h2>{t('网格', 'Grids')}</h2>{grid_table}
<p class="small">{html.escape(ATTRIBUTION)}</p></main>"""
    return page(f"{row['name']} — 社区体检 Community scorecard", body, active="/reports/scorecard",
                extra_head=f"<style>{REPORT_CSS}</style>{_REPORT_FIX}", scripts=_LANG_SYNC)
