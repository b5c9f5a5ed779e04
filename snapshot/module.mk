# snapshot: filled in by its module
