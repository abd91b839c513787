"""Malicious verifiers, for the robustness experiment (Navarro et al., Fig. 3) only.

ordered: approves every interval it is given (covers for bad training).
chaotic: inverts its honest verdict (also rejects valid intervals).
"""
from __future__ import annotations


def corrupt(verdict: str, mode: str | None) -> str:
    if mode is None:
        return verdict
    if mode == "ordered":
        return "ACCEPT"
    if mode == "chaotic":
        return "REJECT" if verdict == "ACCEPT" else "ACCEPT"
    raise ValueError(f"unknown adversary mode {mode!r}")
