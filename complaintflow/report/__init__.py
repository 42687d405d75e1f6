"""The complaint ledger report: read the event log, fold it into figures, write HTML, CSV or JSON."""
