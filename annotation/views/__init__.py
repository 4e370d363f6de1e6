"""HTML views, one module per concept: prompts (collection), tasks (queue, rating, ranking), dialogs."""
