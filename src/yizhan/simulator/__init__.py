"""The carrier simulator: an SMPP server (SMSC) on loopback, scripted per number (delays,
failures, codes), so that everything runs and is tested without a carrier. It is a server of
its own, not a channel: the SMPP channel binds to it as to any carrier.

May import `dispatch/channels/` (the SMPP codec and link, the simulator channel's script),
`runtime/` and `domain/`. Dispatch does not import it: the composition root and the CLI
hand its constructor over.
"""
