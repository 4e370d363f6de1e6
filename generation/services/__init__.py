"""Writes for the generation app, one module per concept: endpoints, preprompts, campaigns, runner, imports."""
