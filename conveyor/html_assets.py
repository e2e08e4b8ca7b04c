"""Pages that work with no internet: a generated page's CDN scripts and styles become the installed packages' own.

explainerdashboard's static HTML links Bootstrap (CSS and JS) and Popper from jsDelivr, and every Plotly figure
in it links plotly.js from cdn.plot.ly. Offline, that page is unstyled text without charts. `offline_page`
writes those files into the page itself, from the packages installed here: plotly.js from plotly (the very
version the figures were made for), Bootstrap's CSS and JS from explainerdashboard's own copies.

Inline rather than served from a path: the page is stored by retraining_api and shown through the admin, which
proxies it; a path would have to exist (and pass the read token, which a browser's <script src> cannot send) on
whichever site the page happens to be opened from, while an inline file works on all of them.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

# A tag that loads a script or a style sheet from another site.
_SCRIPT = re.compile(r"<script\b[^>]*\bsrc=[\"'](https?://[^\"']+)[\"'][^>]*>\s*</script>", re.I)
_STYLESHEET = re.compile(r"<link\b[^>]*\bhref=[\"'](https?://[^\"']+)[\"'][^>]*>", re.I)
# What a page may still fetch from elsewhere: scripts, styles, fonts, images, frames, media.
_EXTERNAL = (
    re.compile(r"<(?:script|img|iframe|source|video|audio|embed|input)\b[^>]*\bsrc=[\"']?(https?://[^\"' >]+)", re.I),
    re.compile(r"<link\b[^>]*\bhref=[\"']?(https?://[^\"' >]+)", re.I),
    re.compile(r"<object\b[^>]*\bdata=[\"']?(https?://[^\"' >]+)", re.I),
    re.compile(r"\bsrcset=[\"']?(https?://[^\"' >,]+)", re.I),
    re.compile(r"url\(\s*[\"']?(https?://[^\"')]+)", re.I),
    re.compile(r"@import\s+[\"'](https?://[^\"']+)", re.I),
)


def _package_file(package: str, *parts: str) -> Path:
    # Found, not imported: importing explainerdashboard takes seconds, and the admin never needs it otherwise.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {package} is not installed here")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@functools.cache
def _text(package: str, *parts: str) -> str:
    return _package_file(package, *parts).read_text(encoding="utf-8")


def plotly_js() -> str:
    return _text("plotly", "package_data", "plotly.min.js")


def bootstrap_css() -> str:
    return _text("explainerdashboard", "assets", "bootstrap.min.css")


def bootstrap_js() -> str:
    return _text("explainerdashboard", "static", "bootstrap.min.js")


def _script(code: str) -> str:
    # "</script" inside the code would end the element early; "<\/script" is the same string to JavaScript.
    return "<script>" + re.sub(r"</(script)", r"<\\/\1", code, flags=re.I) + "</script>"


def _style(css: str) -> str:
    return "<style>" + css.replace("</style", "<\\/style") + "</style>"


# The CDN files these pages link, by what their address names, and what stands in for each: a file's own
# contents, or nothing. Popper goes: Bootstrap needs it only for dropdowns, popovers and tooltips, and the static
# dashboard uses tabs alone (Bootstrap's UMD build loads without it).
_SCRIPTS: list[tuple[re.Pattern[str], Callable[[], str] | None]] = [
    (re.compile(r"//cdn\.plot\.ly/plotly[-.\w]*\.js$"), plotly_js),
    (re.compile(r"/npm/bootstrap@[^/]+/dist/js/bootstrap(\.bundle)?(\.min)?\.js$"), bootstrap_js),
    (re.compile(r"/npm/@popperjs/core@[^/]+/"), None),
]
_STYLES: list[tuple[re.Pattern[str], Callable[[], str]]] = [
    (re.compile(r"/npm/bootstrap@[^/]+/dist/css/bootstrap(\.min)?\.css$"), bootstrap_css),
]


def offline_page(html: str) -> str:
    """`html` with the CDN scripts and styles it links written into it; each file once (Plotly's figures each
    link plotly.js, and the first copy serves them all). Links it does not know stay (see `external_assets`)."""
    inlined: set[str] = set()

    def script(match: re.Match[str]) -> str:
        for pattern, contents in _SCRIPTS:
            if pattern.search(match.group(1)):
                if contents is None or contents.__name__ in inlined:
                    return ""
                inlined.add(contents.__name__)
                return _script(contents())
        return match.group(0)

    def style(match: re.Match[str]) -> str:
        tag = match.group(0)
        if "stylesheet" not in tag.lower():
            return tag
        for pattern, contents in _STYLES:
            if pattern.search(match.group(1)):
                if contents.__name__ in inlined:
                    return ""
                inlined.add(contents.__name__)
                return _style(contents())
        return tag

    return _STYLESHEET.sub(style, _SCRIPT.sub(script, html))


def external_assets(html: str) -> list[str]:
    """The addresses on other sites `html` would load a script, style, font, image or frame from (links a
    person follows, such as <a href>, are not loads). Empty for a page that works offline."""
    found: list[str] = []
    for pattern in _EXTERNAL:
        found.extend(pattern.findall(html))
    return sorted(set(found))
