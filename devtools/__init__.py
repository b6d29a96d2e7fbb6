"""Developer tooling, not shipped in the worker image: the local Kafka launcher, the
telemetry generator, the demo and the end-to-end bench. It may import the runtime; the
runtime never imports it."""
