"""Compliance reports: the consent audit exports, point-in-time state, proof per message and the
data-subject report, all read from the consent ledger and the message log (docs/compliance.md)."""
