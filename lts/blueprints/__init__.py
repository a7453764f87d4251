"""Blueprints: one package per area, each exposing ``bp``."""
