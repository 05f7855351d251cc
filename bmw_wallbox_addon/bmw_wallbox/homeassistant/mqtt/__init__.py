"""The MQTT transport: one Home Assistant device per charger through MQTT discovery, and evcc's topics.

Imported only when a broker is used (it brings aiomqtt and paho along).
"""
