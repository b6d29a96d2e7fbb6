"""What the scorer does with decoded events, without Kafka: the scoring pass (fold,
watermarks, month close, late re-emission, redelivery skip, live throttle) and the
offline scorer. Takes events, org values and a clock value; returns the records to send
and the values to write. No Faust, aiokafka, metrics, wall clock or environment."""
