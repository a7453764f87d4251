"""Marshmallow schemas: what the JSON API accepts and returns, one module per resource."""
