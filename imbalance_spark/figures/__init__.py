"""Figures drawn from reports (Agg backend): the run, the class drift, the evaluation."""
