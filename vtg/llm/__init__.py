"""LLM sub-event decomposition of queries."""
