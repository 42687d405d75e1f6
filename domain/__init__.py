"""Pure rules shared by more than one service: the PII masker, the amount parser, the raw message-id rule.

No I/O and no imports above ``schemas``."""
