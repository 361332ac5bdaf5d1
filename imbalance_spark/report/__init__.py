"""The run report: built from the plan and what was written, rendered for the console."""
