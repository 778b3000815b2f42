"""Quizhub's hardened embedded MQTT broker (amqtt underneath); stands alone, imports nothing from hub or web.

Public API: `broker.config.BrokerConfig`, `broker.credentials.CredentialStore`/`Role`, `broker.server.EmbeddedBroker`,
`broker.errors.PortInUseError`. docs/broker.md lists each amqtt defect, its fix and the test that proves it.
"""

__all__: list[str] = []
