"""complaintflow: shared pieces every service uses (settings, topics, Kafka/Redis helpers, embedded services)."""

__version__ = "0.1.0"
