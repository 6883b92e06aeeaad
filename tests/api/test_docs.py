"""The API reference page (api/docs.py) and every other HTML page load nothing from another
host."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from tests.conftest import Running

LINKS = re.compile(r"""(?:src|href)\s*=\s*["']?([^"' >]+)|url\(\s*["']?([^"')]+)""", re.I)


async def test_no_page_loads_anything_from_another_host(running: Running) -> None:
    """Issue 14 point 12: /docs loaded Swagger UI from a CDN and was blank offline. Every HTML
    page the API serves (the reference, and any GET route that answers HTML), and the style
    sheets they load, name only this host; what they name is served."""
    spec = (await running.client.get("/openapi.json")).json()
    start = ["/docs", "/redoc", *(p for p, ops in spec["paths"].items()
                                  if "get" in ops and "{" not in p)]
    seen: set[str] = set()
    pages: list[str] = []
    queue = list(start)
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        r = await running.client.get(path)
        kind = r.headers.get("content-type", "")
        if path not in start:
            assert r.status_code == 200, f"{path} is linked but answers {r.status_code}"
        if not kind.startswith(("text/html", "text/css")):
            continue
        pages.append(path)
        for match in LINKS.finditer(r.text):
            link = match.group(1) or match.group(2)
            if link.startswith(("data:", "#")):
                continue
            target = urlsplit(urljoin(running.base_url + path, link))
            assert target.netloc == urlsplit(running.base_url).netloc, (
                f"{path} loads {link} from another host")
            queue.append(target.path)
    assert "/docs" in pages and any(p.endswith(".css") for p in pages)
    docs = (await running.client.get("/docs")).text
    assert "swagger-ui-bundle.js" in docs and '"validatorUrl": null' in docs
