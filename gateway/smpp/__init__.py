"""SMPP 3.4 client: the gateway's link to citizens' phones through the carrier SMSC."""
