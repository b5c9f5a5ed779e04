# transport: filled in by its module
