"""Bytes in, typed values out: event decoding and validation, the internal-record format,
dead-letter headers and the encoding of the worker's table values. No Kafka client, no
Faust, no metrics: everything here is a pure function of its arguments."""
