"""The one exception type for bad user input: the CLI prints it as a one-line error and exits non-zero."""


class UserError(ValueError):
    """Bad input from a user (unknown name, invalid size, malformed file). Message is one line."""
