"""The "watch" (3G*/SG/CS) TCP protocol of elder watches, bridged into the MQTT wristband contract."""
