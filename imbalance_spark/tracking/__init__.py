"""MLflow tracking (the optional mlflow extra) of runs and evaluations."""
