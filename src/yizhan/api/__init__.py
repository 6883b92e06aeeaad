"""The HTTP API: the FastAPI factory and the ASGI entry (`app`), authentication (`auth`),
error answers (`errors`), throttling (`throttle`), request sizes (`limits`), the query
string (`querystring`), offline docs (`docs`), a multipart upload read as it streams
(`multipart`); the Alibaba Cloud compatible RPC endpoint (`aliyun/`) and the native REST
routes (`rest/`).

May import `intake/`, `tasks/` (the send tasks' service), the stages' parts (`policy/`,
`webhooks/`, `records/`, ...), `runtime/` and `domain/`; not `storage/`, `backends/`,
`settings.py` or `cli/`: what it needs comes in `ApiServices`, typed by protocols it
declares.
"""
