"""Pieces of the HTML report: tables through pandas' Styler, figures as embedded PNGs.

Every function returns :class:`markupsafe.Markup` (or data for the template) built from escaped
text, so the report's template can place it as it is.
"""

from __future__ import annotations

import base64
import io
import itertools

import pandas as pd
from markupsafe import Markup

_TABLE_IDS = itertools.count()


def _is_text(value) -> bool:
    """Whether a cell reads as words (left-aligned) rather than a number or interval."""
    if not isinstance(value, str):
        return False
    head = value.replace("%", "").replace(",", "").replace("x", "").split(" ")[0].strip("[")
    try:
        float(head)
    except ValueError:
        return value not in ("—", "n/a", "")
    return False


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(frame: pd.DataFrame, caption: str | None = None, *, index: bool = True, markup=()) -> Markup:
    """``frame`` as an HTML ``<table>`` through :meth:`pandas.DataFrame.style` with every cell,
    header and the caption HTML-escaped, except the columns in ``markup`` (already
    :class:`~markupsafe.Markup`). The index, when shown, becomes the first column (its name the
    header); columns of words are left-aligned, numbers and intervals right-aligned."""
    if index:
        frame = frame.reset_index()
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    markup = set(markup)
    # A column of words (any cell not a number or interval) is left-aligned, header included.
    words = [c for i, c in enumerate(frame.columns) if i == 0 or c in markup or frame[c].map(_is_text).any()]
    styler = (
        frame.style.hide(axis="index")
        .format(_cell, escape="html", na_rep="—", subset=[c for c in frame.columns if c not in markup])
        .format(str, subset=[c for c in frame.columns if c in markup])
        .format_index(escape="html", axis=1)
        .set_table_styles(
            {c: [{"selector": "th, td", "props": "text-align: left; white-space: normal"}] for c in words}
        )
    )
    if caption:
        styler = styler.set_caption(str(Markup.escape(caption)))
    html = styler.to_html(table_uuid=f"t{next(_TABLE_IDS)}", table_attributes='class="data"')
    return Markup(f"<div class='scroll'>{html}</div>")


def figure(fig, alt: str, caption: str, dpi: int = 96) -> dict:
    """A matplotlib figure (or an Axes) as ``{"src": data URI of its PNG, "alt", "caption"}``;
    the figure is closed."""
    import matplotlib.pyplot as plt

    fig = getattr(fig, "figure", fig)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"src": f"data:image/png;base64,{data}", "alt": alt, "caption": caption}


def environment():
    """The jinja2 environment of the report templates (autoescaped, strict)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("bayes_scaling.viz", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


__all__ = ["environment", "figure", "table"]
