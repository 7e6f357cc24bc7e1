"""Contact imports: a file read, staged, checked in SQL, previewed, then applied (docs/imports.md)."""
