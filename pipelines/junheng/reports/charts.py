"""Charts as inline SVG (matplotlib, text drawn as paths so the page needs no font file or URL)."""

from __future__ import annotations

import io
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

log = logging.getLogger(__name__)

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Noto Sans CJK JP",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
LEVEL_COLORS = {"primary": "#1f5fa8", "junior": "#c0392b"}


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """Name of an installed CJK font family, registering system CJK fonts matplotlib's cache predates."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    for fam in CJK_FAMILIES:
        if fam in known:
            return fam
    # The font cache may predate `apt-get install fonts-noto-cjk`: add the files directly.
    for path in font_manager.findSystemFonts():
        if re.search(r"(NotoSans.*CJK|SourceHanSans|wqy|DroidSansFallback)", Path(path).name, re.I):
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # pragma: no cover - unreadable font file
                continue
    known = {f.name for f in font_manager.fontManager.ttflist}
    for fam in CJK_FAMILIES:
        if fam in known:
            return fam
    log.warning("未找到中文字体（请安装 fonts-noto-cjk）：图中汉字可能无法显示")
    return None


def _setup() -> None:
    fam = cjk_font()
    plt.rcParams.update(
        {
            "font.family": "sans-serif",
            "font.sans-serif": ([fam] if fam else []) + ["DejaVu Sans"],
            "axes.unicode_minus": False,
            "svg.fonttype": "path",
            "svg.hashsalt": "junheng",
            "font.size": 9,
        }
    )


def _to_svg(fig, title: str, tight: bool = False) -> str:
    buf = io.StringIO()
    # Fixed margins (one draw pass) for the trend charts; tight bbox where labels vary in length.
    fig.savefig(buf, format="svg", bbox_inches="tight" if tight else None, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML declaration and DOCTYPE: inline in HTML
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', svg, count=1)
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{_esc(title)}" ', 1)
    return svg


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def cv_trend_svg(
    title: str,
    series: dict[str, Sequence[tuple[int, float | None]]],
    thresholds: dict[str, float | None],
    level_names: dict[str, str],
    clean: dict[str, Sequence[tuple[int, float | None]]] | None = None,
) -> str:
    """One indicator: CV by year per level (solid), each level's threshold (dashed), and where flagged
    submissions change it, the CV without them (dotted). A CV far above the rest (a slip in the data) is
    drawn at the top edge with its value, so it does not flatten the other years."""
    _setup()
    clean = clean or {}
    fig, ax = plt.subplots(figsize=(5.6, 2.9), dpi=100)
    thr_vals = [t for t in thresholds.values() if t is not None]
    ordinary = [c for pts in list(series.values()) + list(clean.values()) for _, c in pts if c is not None]
    top = _axis_top(ordinary, thr_vals)
    years_all: list[int] = []
    for level, pts in series.items():
        pts = [(y, c) for y, c in pts if c is not None]
        if not pts:
            continue
        ys, cs = zip(*pts)
        years_all += ys
        color = LEVEL_COLORS.get(level, "#555")
        name = level_names.get(level, level)
        shown = [min(c, top) for c in cs]
        ax.plot(ys, shown, marker="o", ms=3.5, lw=1.8, color=color, label=f"{name}差异系数")
        for y, c in pts:
            if c > top:
                ax.plot([y], [top], marker="^", ms=7, color=color, clip_on=False)
                ax.annotate(f"{c:.2f}", (y, top), textcoords="offset points", xytext=(5, -4), fontsize=7.5,
                            color=color)
        cl = [(y, c) for y, c in clean.get(level, []) if c is not None]
        if cl:
            ax.plot([y for y, _ in cl], [min(c, top) for _, c in cl], lw=1.3, ls=":", marker=".", ms=3,
                    color=color, alpha=0.85, label=f"{name}（剔除存疑数据）")
        thr = thresholds.get(level)
        if thr is not None:
            ax.axhline(thr, color=color, lw=1.1, ls="--", alpha=0.8, label=f"{name}标准（≤{thr:.2f}）")
        if cs[-1] <= top:
            ax.annotate(f"{cs[-1]:.3f}", (ys[-1], cs[-1]), textcoords="offset points",
                        xytext=(4, -10) if level == "junior" else (4, 4), fontsize=8, color=color)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("差异系数")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if years_all:
        ax.set_xlim(min(years_all) - 0.4, max(years_all) + 0.8)
    ax.set_ylim(0, top * 1.08)
    ax.grid(True, axis="y", lw=0.4, alpha=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, ncol=3 if clean else 4, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.24 if clean else 0.2)
    return _to_svg(fig, title)


def _axis_top(values: list[float], thresholds: list[float]) -> float:
    """Top of the CV axis: the largest ordinary value (or threshold); values more than three times the
    larger of the threshold and the median are outliers drawn at the edge."""
    if not values:
        return max(thresholds + [0.1]) * 1.12
    med = sorted(values)[len(values) // 2]
    limit = 3 * max(thresholds + [med])
    kept = [v for v in values if v <= limit] or [limit]
    return max(kept + thresholds + [0.1]) * 1.12


def ranking_svg(title: str, names: Sequence[str], values: Sequence[float], xlabel: str,
                reference: float | None = None) -> str:
    """Horizontal bars, best first (top)."""
    _setup()
    n = len(names)
    fig, ax = plt.subplots(figsize=(6.4, max(1.6, 0.32 * n + 0.8)), dpi=100)
    ys = list(range(n))[::-1]
    colors = ["#2e7d32" if reference is not None and v <= reference else "#1f5fa8" for v in values]
    ax.barh(ys, values, color=colors, height=0.6)
    ax.set_yticks(ys, names)
    for y, v in zip(ys, values):
        ax.text(v, y, f" {v:.3f}", va="center", fontsize=7.5)
    if reference is not None:
        ax.axvline(reference, color="#c0392b", ls="--", lw=1)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10, loc="left")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _to_svg(fig, title, tight=True)
