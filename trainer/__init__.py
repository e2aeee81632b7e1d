"""Training, the artifact format and the Predictor shared with the workers."""
