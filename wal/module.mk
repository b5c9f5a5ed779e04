# wal: filled in by its module
