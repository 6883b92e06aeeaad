"""The Alibaba Cloud SMS (Dysmsapi 2017-05-25) compatible RPC endpoint: signing and form
decoding, authentication, the actions, the endpoint.

May import `api/`'s shared parts (errors, throttle, querystring), `intake/`, the stages'
parts, `runtime/` and `domain/`; not `api/rest/` or `storage/`.
"""
