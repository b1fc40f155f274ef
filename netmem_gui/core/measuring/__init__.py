"""Measuring: a process's memory, the sampler, tracemalloc, and the load a Locust master reports."""
