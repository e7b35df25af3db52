"""Training tools (on top of the model and the same normalisation as the predictor)."""
