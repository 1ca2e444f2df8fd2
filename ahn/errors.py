"""The one exception type for bad user input: the CLI prints it as a one-line error and exits non-zero."""


class UserError(ValueError):
    """Bad input from a user (unknown name, invalid size, malformed file). Message is one line."""


class Note(UserWarning):
    """Something the user should know about valid input (e.g. what an unusual setting means); the CLI
    prints it as one line, once per place it is raised."""
