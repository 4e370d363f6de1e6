"""Writes, one module per concept (HackSoft style): prompts, assignment, submissions, dialogs."""
