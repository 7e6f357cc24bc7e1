"""Segments: who a campaign is for, as rules compiled to one SQL query (docs/segments.md)."""
