"""Delta tables: the log, what is at the output, writing it, and the class-balance history."""
