"""Event bus: topics, serialization, the embedded durable log and the Kafka backend."""
