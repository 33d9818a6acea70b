"""A Python client for the RAPI (`gnt.rapi.client`), call-compatible with Ganeti's GanetiRapiClient."""
