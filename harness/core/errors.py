"""Exceptions a user can act on. The CLI prints their message as one line and exits non-zero."""


class FwcompareError(Exception):
    """Base of every error fwcompare raises on purpose; the message says what went wrong and how to fix it."""


class ParamMismatchError(FwcompareError):
    """A parameter dict does not have the keys or shapes a ModelSpec needs."""


class DivergedError(FwcompareError):
    """Training produced a non-finite loss."""


class FrameworkUnavailableError(FwcompareError):
    """A framework is not installed (or cannot be imported) on this machine."""


class UnknownNameError(FwcompareError):
    """A variant, matrix, dataset or framework name is not registered."""


class DataError(FwcompareError):
    """A data file is corrupt, a data folder is missing, or no source could supply a data set."""


class ImplementationError(FwcompareError):
    """A user's own implementation (harness.byo) cannot be loaded, lacks a method, returned something of the wrong
    keys, shapes or values, or ran past its time limit; the message names the user's file and line."""


class NonFiniteOutputError(ImplementationError):
    """A user's implementation returned NaN or infinity where the reference computes finite numbers."""
