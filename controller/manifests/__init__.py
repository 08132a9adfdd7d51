"""Desired state: manifest models (pydantic), the directory loader and validation."""
