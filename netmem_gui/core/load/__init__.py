"""The load: netmem's echo server and clients, the protocols they speak, the scenarios, and the user's own asyncio
server."""
