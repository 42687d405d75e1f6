"""The report's charts, drawn with matplotlib into inline SVG (text kept as text, so Chinese renders in the
viewer's fonts) or PNG for documents."""

from __future__ import annotations

import io
import logging
import re
import warnings
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

from matplotlib import font_manager
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from complaintflow.report.labels import bilingual
from complaintflow.report.ledger import Table

CJK_FONTS = ("Noto Sans CJK SC", "Noto Sans CJK JP", "WenQuanYi Zen Hei", "Source Han Sans SC")
PALETTE = ("#2f6690", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#3a3a3a", "#c97c5d")
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def _style() -> dict[str, object]:
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [*(f for f in CJK_FONTS if f in installed), "DejaVu Sans"],
        "svg.fonttype": "none",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
        "font.size": 9,
    }


def render(draw: Callable[[Figure], None], size: tuple[float, float], fmt: str = "svg") -> bytes:
    with plt.rc_context(_style()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure = plt.figure(figsize=size, layout="constrained")
        try:
            draw(figure)
            buffer = io.BytesIO()
            figure.savefig(
                buffer, format=fmt, dpi=144 if fmt == "png" else 72, metadata={"Date": None} if fmt == "svg" else None
            )
        finally:
            plt.close(figure)
    return buffer.getvalue()


def svg(draw: Callable[[Figure], None], size: tuple[float, float]) -> str:
    text = render(draw, size, "svg").decode()
    text = text[text.index("<svg") :]  # the XML prolog and doctype have no place inside HTML
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)


def trend_chart(table: Table) -> Callable[[Figure], None]:
    channels = table.columns[2:]

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        days = [str(row[0])[5:] for row in table.rows]
        bottom = [0] * len(days)
        for index, channel in enumerate(channels):
            counts = [_int(row[2 + index]) for row in table.rows]
            colour = PALETTE[index % len(PALETTE)]
            axes.bar(days, counts, bottom=bottom, label=bilingual(channel), color=colour, width=0.8)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        axes.set_title("每日投诉量 Complaints per day")
        axes.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        axes.tick_params(axis="x", labelrotation=90, labelsize=7)

    return draw


def count_chart(table: Table, title: str) -> Callable[[Figure], None]:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        rows = list(reversed(table.rows))
        axes.barh(
            [bilingual(row[0], table.columns[0]) for row in rows], [_int(row[1]) for row in rows], color=PALETTE[0]
        )
        axes.set_title(title)
        for index, row in enumerate(rows):
            axes.annotate(
                str(row[1]), (_int(row[1]), index), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8
            )

    return draw


def sla_chart(table: Table) -> Callable[[Figure], None]:
    rows = [row for row in table.rows if row[0] != "all"]
    p50, p90 = table.columns.index("decision_p50_h"), table.columns.index("decision_p90_h")

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        names = [bilingual(row[0], "department") for row in reversed(rows)]
        positions = range(len(names))
        axes.barh(
            [p + 0.2 for p in positions],
            [_days(row[p90]) for row in reversed(rows)],
            height=0.4,
            label="P90",
            color=PALETTE[1],
        )
        axes.barh(
            [p - 0.2 for p in positions],
            [_days(row[p50]) for row in reversed(rows)],
            height=0.4,
            label="P50",
            color=PALETTE[0],
        )
        axes.set_yticks(list(positions), names)
        axes.set_xlabel("天 days")
        axes.set_title("办结用时 Time to decision")
        axes.legend(frameon=False)

    return draw


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0


def _days(hours: object) -> float:
    return float(hours) / 24 if isinstance(hours, int | float) else 0.0


def notifications_chart(table: Table) -> Callable[[Figure], None]:
    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        names = [bilingual(row[0]) for row in table.rows]
        axes.bar(names, [_int(row[1]) for row in table.rows], label="已发送 sent", color=PALETTE[3])
        axes.bar(
            names,
            [_int(row[2]) for row in table.rows],
            bottom=[_int(row[1]) for row in table.rows],
            label="失败 failed",
            color=PALETTE[1],
        )
        axes.set_title("客户通知 Notifications")
        axes.legend(frameon=False)

    return draw


def satisfaction_chart(table: Table) -> Callable[[Figure], None]:
    overall = next((row for row in table.rows if row[0] == "all"), None)

    def draw(figure: Figure) -> None:
        axes = figure.subplots()
        counts = [_int(v) for v in overall[3:]] if overall else [0] * 5
        axes.bar([f"{s}" for s in range(1, 6)], counts, color=PALETTE[4])
        axes.set_xlabel("评分 score")
        axes.set_title("客户满意度 Satisfaction")

    return draw
