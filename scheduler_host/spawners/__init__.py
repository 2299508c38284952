"""Ways to start workers: local child processes, or Lambda via API Gateway POSTs."""
