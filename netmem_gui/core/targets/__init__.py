"""The targets netmem did not write: processes and their sockets, commands it starts, and the Target the scenarios
drive."""
