"""Diagnosis: the trail of a message or of a number on a day, and the verdict on it in plain
words (what happened, on whose side, what to do), in Chinese and English.

May import the stages' parts (`policy/` for the trail's rules, `records/` for masking,
`compliance/` for what blocks a signature on a carrier),
`runtime/` and `domain/`; the store it reads is a protocol it declares (`gather.TrailStore`),
the API call log another (`inquiry.CallLog`), and the counters a population's
diagnosis reads a third (`population.PopulationStore`).
"""
