"""mkdocs hook: a page's relative link must reach a page or file of the site, or a file
of the repository outside docs/ (../README.md, ../mnist_dvs/live.py).

mkdocs reports a link to a file outside docs/ as 'not found among documentation files',
which `--strict` would make an error, although the file exists and the link works in the
built site (docs_site/ sits beside docs/). mkdocs.yml lowers that report to info; this
hook warns instead, under --strict an error, for every relative link that reaches
nothing: inside docs/ or out of it.
"""
import logging
import posixpath
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

log = logging.getLogger("mkdocs.hooks.repo_links")

LINK = re.compile(r'\s(?:href|src)="([^"]*)"')


def broken_links(html: str, src_uri: str, dest_uri: str, dest_uris: set, docs_dir: Path):
    """The relative links of a page's HTML that reach neither a file of the site nor,
    outside docs/, a file or folder of the repository."""
    for url in LINK.findall(html):
        scheme, netloc, path, _, _ = urlsplit(url)
        if scheme or netloc or not path or path.startswith("/"):
            continue  # external, a same-page anchor, or absolute (mkdocs' own check)
        path = unquote(path)
        if posixpath.normpath(posixpath.join(posixpath.dirname(dest_uri), path)) in dest_uris:
            continue  # mkdocs resolved it to a page or a copied file
        source = (docs_dir / posixpath.dirname(src_uri) / path).resolve()
        if not source.is_relative_to(docs_dir) and source.exists():
            continue  # a file of the repository outside docs/
        yield url


def on_page_content(html, page, config, files):
    docs_dir = Path(config["docs_dir"]).resolve()
    dest_uris = {file.dest_uri for file in files}
    for url in broken_links(html, page.file.src_uri, page.file.dest_uri, dest_uris, docs_dir):
        log.warning(f"Doc file '{page.file.src_uri}' links to '{url}', which is neither a "
                    f"page of the site nor a file of the repository.")
    return html
