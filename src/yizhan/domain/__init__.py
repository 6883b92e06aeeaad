"""The vocabulary every room shares: typed ids and records (`model`), error codes and
refusals (`errors`), versioned events (`events`), the ports stages and backends meet at
(`ports`: Clock, Bus, Channel, RateCounter, submit results), message ids (`ids`), carriers,
segments and China time, counting windows (`rates`), push settings and items (`push`), the
statistics' dimensions (`statistics`), carrier code tables (`codes`), dispatch order
(`priority`).

May import nothing of Yizhan outside `domain/`; every other room may import it.
"""
