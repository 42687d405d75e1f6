"""The platform kernel every service stands on: settings, topics, Kafka and Redis access (all Redis keys live in
``kernel.state``), the stream runner, embedded services, the web and SMTP servers, health, metrics and logs."""
