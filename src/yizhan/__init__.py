"""Yizhan (驿站): a self-hosted SMS platform, wire-compatible with Alibaba Cloud SMS."""

__version__ = "0.1.0"
