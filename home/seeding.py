"""Seed everything the reference file describes: the taxonomy (prompts app) and the pre-prompts
(generation app). The one entry point for commands, tests and benchmarks."""

from generation.seeding import preprompts_seed
from prompts.seeding import SeedReport, taxonomy_seed


def reference_seed() -> SeedReport:
    report = taxonomy_seed()
    report.preprompts = preprompts_seed()
    return report
