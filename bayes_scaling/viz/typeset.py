r"""LaTeX as a reader sees it, with nothing fetched: symbols as HTML, formulas as inline SVG.

The laws and likelihoods write their formulas and parameter symbols in LaTeX
(:attr:`~bayes_scaling.laws.Law.formula`, :meth:`~bayes_scaling.laws.Law.symbol`). A report must
not load MathJax or fonts, so :func:`formula_svg` draws a formula with matplotlib's mathtext
into an inline ``<svg>`` (glyphs as paths; the LaTeX source as its accessible name), and
:func:`symbol_html` turns a short symbol (``\alpha_N``, ``R_D^*``) into HTML text with
``<sub>``/``<sup>``. Both return :class:`markupsafe.Markup` built only from escaped pieces, so
text from a user-defined law cannot become markup. :func:`plot_label` gives a matplotlib label.
"""

from __future__ import annotations

import io
import itertools
import re

from markupsafe import Markup, escape

_LOWER = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho varsigma sigma tau"
_LOWER += " upsilon phi chi psi omega"
_GREEK = {
    **{name: chr(0x3B1 + i) for i, name in enumerate(_LOWER.split())},
    **dict(zip("Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(), "ΓΔΘΛΞΠΣΥΦΨΩ", strict=True)),
    "ell": "ℓ",
    "varepsilon": "ε",
    "infty": "∞",
    "sim": "~",
    "cdot": "·",
    "times": "×",
    "propto": "∝",
    "sum": "Σ",
    "ge": "≥",
    "geq": "≥",
    "le": "≤",
    "leq": "≤",
}
_WORDS = {"log", "exp", "ln", "min", "max"}  # upright words: \log -> "log "
_SPACES = {",": "\u2009", ";": " ", " ": " ", "quad": "  ", "qquad": "    ", "!": ""}
_FONT_COMMANDS = {"mathrm", "mathit", "mathbf", "operatorname", "text", "mathcal", "boldsymbol"}


def symbol_html(tex: str) -> Markup:
    r"""A short LaTeX symbol as escaped HTML: Greek letters as characters, ``_`` and ``^`` as
    ``<sub>``/``<sup>``, ``\mathrm{...}`` as its text; anything else as written.

    >>> str(symbol_html(r"\alpha_N")), str(symbol_html(r"\mathrm{log\_AN\_ref}")), str(symbol_html("R_D^*"))
    ('α<sub>N</sub>', 'log_AN_ref', 'R<sub>D</sub><sup>*</sup>')
    """
    out, _ = _html(tex, 0, stop=None)
    return Markup(out)


def _group(tex: str, i: int) -> tuple[str, int]:
    """The HTML of the argument at ``tex[i]``: a ``{...}`` group, a command or one character."""
    if i >= len(tex):
        return "", i
    if tex[i] == "{":
        out, j = _html(tex, i + 1, stop="}")
        return out, j + 1
    if tex[i] == "\\":
        return _command(tex, i)
    return str(escape(tex[i])), i + 1


def _command(tex: str, i: int) -> tuple[str, int]:
    match = re.match(r"\\([A-Za-z]+|.)", tex[i:])
    if match is None:
        return "\\", i + 1
    name, j = match.group(1), i + match.end()
    if name in _FONT_COMMANDS:
        return _group(tex, j)
    if name in _GREEK:
        return _GREEK[name], j
    if name in _WORDS:
        return name + " ", j
    if name in _SPACES:
        return _SPACES[name], j
    if name in ("left", "right", "bigl", "bigr", "Bigl", "Bigr", "big", "Big"):
        return "", j
    return str(escape(name)), j  # \_ \{ \% ... and unknown commands: as written


def _html(tex: str, i: int, stop: str | None) -> tuple[str, int]:
    parts = []
    while i < len(tex) and tex[i] != stop:
        c = tex[i]
        if c in "_^":
            arg, i = _group(tex, i + 1)
            tag = "sub" if c == "_" else "sup"
            parts.append(f"<{tag}>{arg}</{tag}>")
        elif c == "{":
            arg, i = _group(tex, i)
            parts.append(arg)
        elif c == "\\":
            arg, i = _command(tex, i)
            parts.append(arg)
        elif c == "-":
            parts.append("−")
            i += 1
        elif c.isspace():  # spaces in maths are not printed (write "\ " for one)
            i += 1
        else:
            parts.append(str(escape(c)))
            i += 1
    return "".join(parts), i


def plot_label(tex: str) -> str:
    """``$tex$`` for a matplotlib label when mathtext can draw it; else ``tex`` as plain text."""
    from matplotlib.mathtext import MathTextParser

    try:
        MathTextParser("path").parse(f"${_mathtext(tex)}$")
    except ValueError:
        return tex.replace("$", r"\$")
    return f"${_mathtext(tex)}$"


def _mathtext(tex: str) -> str:
    """LaTeX that mathtext does not know, rewritten: ``\\bigl(`` as ``(``, ``\\mathcal N`` as
    ``\\mathcal{N}``, ``\\tfrac`` as ``\\frac``, ``\\text`` as ``\\mathrm``."""
    tex = re.sub(r"\\(?:big|Big|bigg|Bigg)[lr]?(?![A-Za-z])", "", tex)
    tex = re.sub(r"\\mathcal\s*([A-Za-z])", r"\\mathcal{\1}", tex)
    tex = re.sub(r"\\[td]frac(?![A-Za-z])", r"\\frac", tex)
    return re.sub(r"\\text(?![A-Za-z])", r"\\mathrm", tex)


_COUNTER = itertools.count()
_DROP = re.compile(r"<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->|<metadata>.*?</metadata>|<style.*?</style>", re.S)


def formula_svg(tex: str, *, size: float = 15.0) -> Markup:
    r"""``tex`` typeset by matplotlib's mathtext as an inline ``<svg>`` (``role="img"``, the LaTeX
    as ``aria-label`` and ``<title>``); ``<code>tex</code>`` when mathtext cannot parse it.

    The SVG holds glyph outlines only: its comments and metadata are dropped and its ids made
    unique on the page.
    """
    from matplotlib import rc_context
    from matplotlib.font_manager import FontProperties
    from matplotlib.mathtext import math_to_image

    buffer = io.BytesIO()
    try:
        with rc_context({"svg.fonttype": "path", "mathtext.fontset": "stix", "svg.hashsalt": "bayes_scaling"}):
            math_to_image(f"${_mathtext(tex)}$", buffer, prop=FontProperties(size=size), format="svg")
    except ValueError:
        return Markup("<code>{}</code>").format(tex)
    svg = _DROP.sub("", buffer.getvalue().decode("utf-8")).strip()
    prefix = f"f{next(_COUNTER)}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{prefix}{m.group(2)}", svg)
    if not svg.startswith("<svg ") or re.search(r"<(?:script|foreignObject|image|a)\b", svg, re.I):
        return Markup("<code>{}</code>").format(tex)  # (never seen: mathtext writes paths only)
    head, body = svg.split(">", 1)
    label = escape(tex)
    return Markup(f'{head} class="formula" role="img" aria-label="{label}"><title>{label}</title>{body}')


__all__ = ["formula_svg", "plot_label", "symbol_html"]


def plain_text(tex: str) -> str:
    r"""A LaTeX formula as plain text for a terminal: Greek letters as characters, ``^{...}`` as
    ``^(...)``, spacing commands as spaces, ``\frac{a}{b}`` as ``(a)/(b)``.

    >>> plain_text(r"L(N, D) = E + A N^{-\alpha} + B D^{-\beta}")
    'L(N, D) = E + A N^(-α) + B D^(-β)'
    >>> plain_text(r"N^*(C) = G\,(C/k)^{\beta/(\alpha+\beta)},\quad D^* = C/(k N^*)")
    'N*(C) = G (C/k)^(β/(α+β)),  D* = C/(k N*)'
    """
    s = re.sub(r"\\(left|right|bigl|bigr|Bigl|Bigr|big|Big)\b", "", tex)
    s = re.sub(r"\\[td]frac(?![A-Za-z])", r"\\frac", s)
    s = re.sub(r"\\bar\s*\{?([A-Za-z])\}?", "\\1\u0304", s)  # \bar N -> N with a macron
    for _ in range(3):  # nested groups, innermost first
        s = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", s)
        s = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", s)
        s = re.sub(r"\\(?:mathrm|mathit|mathbf|operatorname|text|mathcal|boldsymbol)\{([^{}]*)\}", r"\1", s)
        s = re.sub(r"([\^_])\{([^{}]*)\}", lambda m: m[1] + (m[2] if len(m[2]) == 1 else f"({m[2]})"), s)
    s = re.sub(r"\\q?quad\b", "  ", s)
    s = re.sub(r"\\[,;:! ]", " ", s)
    s = re.sub(r"\\([A-Za-z]+)", lambda m: _GREEK.get(m[1], m[1]), s)
    s = s.replace("^*", "*").replace("\\_", "_").replace("{", "").replace("}", "")
    s = re.sub(r"\( +", "(", s)
    return re.sub(r" {3,}", "  ", re.sub(r"(?<=\S) {2}(?=\S)", " ", s)).strip()
