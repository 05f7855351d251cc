"""What a charger shows in Home Assistant, whatever the transport: descriptions, values, events, one publish loop."""
