"""Runtime helpers that every stage may use: group commit (`batching`), TTL caches
(`caching`), periodic loops (`periodic`), pauses a stop cuts short (`pausing`), logging
with redaction (`logs`), per-process counters (`metrics`), the data folder's server lock
(`server_lock`) and the store's lease of the one process that keeps the embedded frequency
counters (`process_lease`).

May import `domain/` only; nothing here knows a stage.
"""
