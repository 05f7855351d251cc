"""The HTTP side on the panel port: health check and JSON API."""
