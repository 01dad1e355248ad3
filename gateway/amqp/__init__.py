"""The AMQP door: a txAMQP consumer of service events, with the fixes txamqp 0.8.2 needs."""
