"""Compliance: what stands behind a tenant's signatures before carriers accept them
(docs/compliance.md). `signatures` holds the rules a signature name and its source must
meet; `qualifications` the rules of qualifications (资质): the fields and their checks, the
review states as the Alibaba SDK names them, what may change in which state, and the store
protocol their actions use; `letters` the letters of authorization (委托授权书) and the rule
that a qualification for others stands on one; `registration` carrier real-name registration
(实名制报备) of signatures per carrier and sub-port, and `registration_sweeper` the loop that
files with the carriers and brings their answers back.

May import `runtime/` and `domain/`; `policy/` may import it (the sending rules may ask
whether a signature's qualification allows it), not the other way round.
"""
