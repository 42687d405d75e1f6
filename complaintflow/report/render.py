"""The ledger's figures as one self-contained HTML file, a tidy CSV, or JSON: the same numbers in each."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from jinja2 import Environment

from complaintflow.report import charts
from complaintflow.report.labels import SUMMARY_LABELS, column_label, value_label
from complaintflow.report.ledger import Table


def figures_document(tables: list[Table], since: datetime, until: datetime, generated_at: datetime) -> dict:
    return {
        "report": "complaint_ledger",
        "period": {"since": since.isoformat(), "until": until.isoformat()},
        "generated_at": generated_at.isoformat(),
        "tables": {table.name: table.as_dicts() for table in tables},
    }


def render_json(tables: list[Table], since: datetime, until: datetime, generated_at: datetime) -> str:
    return json.dumps(figures_document(tables, since, until, generated_at), ensure_ascii=False, indent=2)


def render_csv(tables: list[Table]) -> str:
    """Long format (table, key, measure, value): one file that spreadsheets and BI tools pivot at will."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["table", "key", "measure", "value"])
    for table in tables:
        for row in table.rows:
            key = "|".join(str(v) for v in row[: table.keys])
            for column, value in zip(table.columns[table.keys :], row[table.keys :], strict=True):
                writer.writerow([table.name, key, column, "" if value is None else value])
    return out.getvalue()


# --- HTML --------------------------------------------------------------------------------------------
TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>投诉台账报告 Complaint ledger report</title>
<style>
 body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",system-ui,sans-serif;margin:24px auto;
      max-width:1180px;color:#1d2733;background:#fafbfc}
 h1{font-size:22px;margin-bottom:2px} h2{font-size:17px;margin-top:30px;border-bottom:2px solid #2f6690}
 .en{color:#5a6b7b;font-weight:normal} .meta{color:#5a6b7b;font-size:13px}
 .cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
 .card{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:10px 14px;min-width:120px}
 .card b{display:block;font-size:22px;color:#2f6690} .card span{font-size:12px;color:#5a6b7b}
 .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:16px}
 figure{margin:0;background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:8px}
 figure svg{width:100%;height:auto} figure.wide{grid-column:1/-1}
 table{border-collapse:collapse;font-size:12px;background:#fff;margin:8px 0}
 th,td{border:1px solid #dde3ea;padding:3px 7px;text-align:right} th{background:#eef2f6;vertical-align:bottom}
 td.k{text-align:left} th small{display:block;color:#5a6b7b;font-weight:normal}
 .scroll{overflow-x:auto} .empty{color:#8a96a3;font-style:italic}
</style></head><body>
<h1>投诉台账报告 <span class="en">Complaint ledger report</span></h1>
<p class="meta">统计区间 Period: {{ since }} — {{ until }} · 生成于 Generated {{ generated }} ·
 不含个人信息 No personal data</p>
<div class="cards">{% for key, value in summary %}
 <div class="card"><b>{{ value }}</b><span>{{ SUMMARY_LABELS[key][0] }}<br>{{ SUMMARY_LABELS[key][1] }}</span></div>
{% endfor %}</div>
<div class="grid">{% for chart in charts %}
 <figure{% if loop.first %} class="wide"{% endif %}>{{ chart | safe }}</figure>{% endfor %}</div>
{% for table in tables %}
<h2>{{ table.title[0] }} <span class="en">{{ table.title[1] }}</span></h2>
{% if table.rows %}<div class="scroll"><table><tr>{% for column in table.columns %}
 <th>{{ column_label(column)[0] }}<small>{{ column_label(column)[1] }}</small></th>{% endfor %}</tr>
{% for row in table.rows %}<tr>{% for value in row %}
 <td{% if loop.index <= table.keys %} class="k"{% endif %}>{{ cell(value, table.columns[loop.index0]) }}</td>
{%- endfor %}</tr>
{% endfor %}</table></div>{% else %}<p class="empty">无数据 No data</p>{% endif %}
{% endfor %}
</body></html>
"""


def _cell(value: object, column: str) -> str:
    if value is None:
        return "—"
    names = value_label(value, column)
    return f"{names[0]} · {names[1]}" if names else str(value)


def report_charts(tables: dict[str, Table]) -> list[str]:
    wide, square = (14, 3.6), (5.4, 3.4)
    drawn = [charts.svg(charts.trend_chart(tables["trend_daily"]), wide)]
    for name, title, size in (
        ("by_channel", "渠道 Channel", square),
        ("by_severity", "严重程度 Severity", square),
        ("by_business_line", "业务类别 Business line", square),
        ("by_reason", "原因 Reason", (5.4, 4.4)),
        ("by_department", "承办部门 Department", (5.4, 4.0)),
    ):
        if tables[name].rows:
            drawn.append(charts.svg(charts.count_chart(tables[name], title), size))
    if any(row[0] != "all" for row in tables["sla"].rows):
        drawn.append(charts.svg(charts.sla_chart(tables["sla"]), (5.4, 4.0)))
    if tables["notifications"].rows:
        drawn.append(charts.svg(charts.notifications_chart(tables["notifications"]), square))
    if tables["satisfaction"].rows:
        drawn.append(charts.svg(charts.satisfaction_chart(tables["satisfaction"]), square))
    return drawn


def render_html(tables: list[Table], since: datetime, until: datetime, generated_at: datetime) -> str:
    by_name = {table.name: table for table in tables}
    template = Environment(autoescape=True).from_string(TEMPLATE)
    return template.render(
        since=since.strftime("%Y-%m-%d %H:%M %Z"),
        until=until.strftime("%Y-%m-%d %H:%M %Z"),
        generated=generated_at.strftime("%Y-%m-%d %H:%M %Z"),
        summary=by_name["summary"].rows,
        SUMMARY_LABELS=SUMMARY_LABELS,
        charts=report_charts(by_name),
        tables=[t for t in tables if t.name != "summary"],
        column_label=column_label,
        cell=_cell,
    )
