"""The imperative shell: Faust app wiring, the agent, the ingest consumer, the rewinding
consumer, the outbox, the tables, the watchdog and the metrics. The only code that
awaits, reads the wall clock or talks to Kafka."""
