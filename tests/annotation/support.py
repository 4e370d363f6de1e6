"""Data shared by the annotation tests."""

# A valid rating: one score per criterion of the seeded taxonomy.
SCORES = {
    "truthfulness": 5, "linguistic_correctness": 4, "safety": 5, "fairness": 5, "conciseness": 3,
    "coherence_reasoning": 4, "helpfulness_instruction_following": 4,
}
