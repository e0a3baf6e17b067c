"""The shop of docs/tree-files.md: a database, an API and per-client sessions."""
