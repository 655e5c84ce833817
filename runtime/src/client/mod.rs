//! A small async Kafka client (Producer, Consumer, Admin) over the Kafka wire protocol.
