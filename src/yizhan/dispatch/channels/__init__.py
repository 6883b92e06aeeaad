"""The channels, each a `domain.ports.Channel`: the in-process simulator (`simulator`) and
the SMPP 3.4 ESME (`smpp`, on `smpp_pdu`, `smpp_link`, `smpp_receipts`, `smpp_uplinks`).
`session` is the windowed, reconnecting session every gateway protocol completes (SMPP is
its first user).
The CMPP 2.0 / 3.0 codec (`cmpp_pdu`, `cmpp_text`) is there for the CMPP channel to come;
`framing` cuts the byte stream of both protocols into PDUs.
Receipts and uplinks leave as events of `domain/`.

May import `runtime/` and `domain/` only; not `dispatch/`: a channel knows no stage. The
carrier simulator (`simulator/`) imports the SMPP codec and link from here.
"""
