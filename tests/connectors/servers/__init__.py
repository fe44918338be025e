"""Contract servers: local stand-ins for vendor APIs that enforce their documented contracts."""
