"""The application of docs/tasks.md: a background job."""
