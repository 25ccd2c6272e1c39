"""mkdocs hook of the documentation site: the docstrings' Sphinx-style roles (``:class:`X```, ``:func:`X```,
...), which the API reference renders as literal text, are shown as the code they name."""

from __future__ import annotations

import re

_ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|ref):(?=<code>)")


def on_page_content(html: str, **kwargs) -> str:
    return _ROLE.sub("", html)
