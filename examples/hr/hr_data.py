"""Deterministic synthetic HR hiring data with the five features of the Clipper tutorial."""

import numpy as np

FEATURES = ["years_experience", "education_level", "skill_score", "interview_rating", "previous_jobs"]


def make_dataset(n_rows=2000, seed=7):
    """Returns (X, y): X is n_rows x 5 doubles, y is 0/1 `hired`. Same seed, same data."""
    rng = np.random.RandomState(seed)
    years = rng.uniform(0, 15, n_rows).round(1)
    education = rng.randint(1, 5, n_rows).astype(float)  # 1 high school .. 4 PhD
    skill = rng.uniform(40, 100, n_rows).round(1)
    interview = rng.uniform(1, 5, n_rows).round(1)
    previous = rng.randint(0, 8, n_rows).astype(float)
    score = 0.15 * years + 0.4 * education + 0.05 * skill + 0.9 * interview - 0.1 * previous + rng.normal(0, 0.6, n_rows)
    hired = (score > np.median(score)).astype(int)
    X = np.column_stack([years, education, skill, interview, previous])
    return X, hired
