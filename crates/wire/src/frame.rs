//! Size-prefixed frames (NOTES.md A.1).
