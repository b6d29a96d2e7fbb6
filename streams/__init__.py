"""The imperative shell: settings, Kafka, Faust app, agents, metrics and the CLI."""
