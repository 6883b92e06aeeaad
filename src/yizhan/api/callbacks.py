"""`POST /callbacks/<channel>/<token>`: where an upstream provider pushes its receipts
(dispatch/channels/upstream_push.py; docs/channels.md "Cloud providers and other Yizhans").

Not part of the tenant API: no AccessKey, no OpenAPI entry. The channel's `callback_token`
in the path authenticates the call (and Twilio's X-Twilio-Signature, or a Yizhan's
X-Yizhan-Signature under the channel's `push_secret`, checked with the push stage's own
rule); an unknown channel and a wrong token answer the same 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from yizhan.api.services import services_of
from yizhan.dispatch.channels.http_upstream import Push
from yizhan.dispatch.channels.upstream_push import take_push
from yizhan.webhooks import signing

PATH = "/callbacks/{channel}/{token}"


async def upstream_callback(request: Request) -> Response:
    services = services_of(request)
    channel = services.upstreams.get(request.path_params["channel"])
    push = Push(str(request.url), {k.lower(): v for k, v in request.headers.items()},
                await request.body())
    now = services.clock.now().timestamp()
    answer = await take_push(channel, request.path_params["token"], push,
                             lambda secret, headers, body: signing.verify(
                                 secret, headers, body, now))
    return Response(answer.body, answer.status, media_type=answer.content_type)
