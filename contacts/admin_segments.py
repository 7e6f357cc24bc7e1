"""The admin of segments, custom fields and static lists (docs/segments.md)."""
