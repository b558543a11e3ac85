//! RecordBatch v2 (NOTES.md B).
