"""Training the bundled model and tuning a model on a repository.

Kept apart from `model/` so that the inference path (the server) never imports the
trainer, the corpus or tokenizer training.
"""
