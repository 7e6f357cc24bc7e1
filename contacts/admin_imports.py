"""The admin pages of contact imports: upload, mapping, preview and progress (docs/imports.md)."""
