"""The signature check shown in docs/push.md accepts real pushes and refuses tampering."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from yizhan.webhooks import signing

DOC = Path(__file__).parents[2] / "docs" / "push.md"


def test_the_documented_verification_snippet_checks_real_signatures() -> None:
    [snippet] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    scope: dict[str, Any] = {}
    exec(compile(snippet, str(DOC), "exec"), scope)
    genuine = scope["push_is_genuine"]
    body = b'[{"phone_number":"13800138000","success":true}]'
    headers = signing.headers("s3cret", int(time.time()), body, "SmsReport")
    assert genuine("s3cret", headers, body)
    assert not genuine("other", headers, body)
    assert not genuine("s3cret", headers, body.replace(b"true", b"false"))
    stale = signing.headers("s3cret", int(time.time()) - 3600, body, "SmsReport")
    assert not genuine("s3cret", stale, body)
