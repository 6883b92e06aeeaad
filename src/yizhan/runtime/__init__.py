"""Runtime helpers that every stage may use: group commit (`batching`), TTL caches
(`caching`), periodic loops (`periodic`), logging with redaction (`logs`), per-process
counters (`metrics`) and the data folder's server lock (`server_lock`).

May import `domain/` only; nothing here knows a stage.
"""
