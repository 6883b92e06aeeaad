"""Receipts, replies and review results on their way to tenants: HTTP batch push."""
