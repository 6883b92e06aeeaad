"""Intake: a send request becomes one message per number, passes the policy chain and is
committed with its outbox rows in one group commit before the BizId is answered.

May import the stages' parts (`policy/`), `runtime/` and `domain/`; the store it needs is a
protocol it declares.
"""
