"""The JSON Schema documents of netmem's files, shipped as package data."""
