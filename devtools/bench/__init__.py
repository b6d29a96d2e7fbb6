"""``csscore bench``: end-to-end throughput, latency and memory of the worker, against
raw-consumer and peer baselines measured in the same run."""
