"""hypercl."""
