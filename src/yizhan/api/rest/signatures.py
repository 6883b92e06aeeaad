"""What blocks a signature in the native REST API (docs/compliance.md "What blocks a
signature"): per carrier, what stops it sending now and the next step, in Chinese and
English, ready for a console.

    GET /v1/signatures/{name}/status

An account sees only its own signatures: another account's signature answers
`SignatureNotFound` (404), as an unknown or deleted one does.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, refusal_response, request_id
from yizhan.api.rest.messages import AccountDep
from yizhan.api.services import services_of
from yizhan.compliance.blocking import signature_status, status_json
from yizhan.domain.errors import Refusal
from yizhan.domain.model import ReviewState

router = APIRouter(prefix="/v1/signatures", tags=["signatures"])


@router.get("/{name}/status", summary="What stops a signature sending, per carrier",
            responses=error_responses("SignatureNotFound"))
async def get_status(request: Request, account: AccountDep,
                     name: str = Path(..., max_length=64,
                                      description="The signature's name.")) -> Response:
    store = services_of(request).store
    signature = await store.signature(account.id, name)
    if signature is None or signature.state is ReviewState.DELETED:
        return refusal_response(request, Refusal("SignatureNotFound", name))
    qualification = (await store.qualification(account.id, signature.qualification_id)
                     if signature.qualification_id is not None else None)
    carriers = signature_status(signature, qualification,
                                await store.sign_registrations(signature.id))
    return json_response({
        "request_id": request_id(), "code": "OK", "message": "OK",
        "sign_name": signature.name, "sign_status": signature.state.value,
        "sending": [s.isp.value for s in carriers if not s.blocked],
        "carriers": [status_json(s) for s in carriers]})
