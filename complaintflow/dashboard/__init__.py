"""The live operations dashboard served by `complaintflow run` at /dashboard."""
