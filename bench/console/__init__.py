"""Volume generator and latency benchmark of the founder's console."""
