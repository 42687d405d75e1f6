"""complaintflow: the application on top of the three services (the command, the runner that assembles the roles,
the dashboard, the ledger report, the demo)."""

__version__ = "0.1.0"
