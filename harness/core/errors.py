"""Every exception fwcompare raises on purpose, in one place. The CLI prints a FwcompareError's message as one line
and exits non-zero; the message says what went wrong and how to fix it."""


class FwcompareError(Exception):
    """Base of every error fwcompare raises on purpose; the message says what went wrong and how to fix it."""


# --- the contract: specs, parameters, names ------------------------------------------------------------------------


class SpecError(FwcompareError, ValueError):
    """A spec field has an invalid value (a ValueError too, as a bad argument to a constructor)."""


class ParamMismatchError(FwcompareError):
    """A parameter dict does not have the keys or shapes a ModelSpec needs."""


class UnknownNameError(FwcompareError):
    """A variant, matrix, dataset or framework name is not registered."""


class BadNameError(FwcompareError):
    """A name has characters outside harness.core.names.NAME_CHARACTERS, is too long, or contains '..'; or a path
    leaves its folder."""


class TextTooLongError(FwcompareError):
    """A free-text field is longer than harness.core.names.MAX_TEXT_LENGTH."""


# --- frameworks and training ---------------------------------------------------------------------------------------


class FrameworkUnavailableError(FwcompareError):
    """A framework is not installed (or cannot be imported) on this machine."""


class DeviceUnavailableError(FwcompareError):
    """The requested device (e.g. --device cuda) does not exist on this machine."""


class DivergedError(FwcompareError):
    """Training produced a non-finite loss."""


class ModelRunError(Exception):
    """A parity model could not be built or traced; the parity suite turns it into a NOT OK row so the other pairs
    still run (never shown on its own, hence not a FwcompareError)."""

    def __init__(self, framework: str, message: str) -> None:
        super().__init__(f"{framework}: {message}")
        self.framework, self.message = framework, message


class ImplementationError(FwcompareError):
    """A user's own implementation (harness.byo) cannot be loaded, lacks a method, returned something of the wrong
    keys, shapes or values, or ran past its time limit; the message names the user's file and line."""


class NonFiniteOutputError(ImplementationError):
    """A user's implementation returned NaN or infinity where the reference computes finite numbers."""


class PortError(FwcompareError):
    """A user's model contains a layer or a setting that has no counterpart in fwcompare's MLP."""


# --- data ----------------------------------------------------------------------------------------------------------


class DataError(FwcompareError):
    """A data file is corrupt, a data folder is missing, or no source could supply a data set."""


class DatasetUnavailableError(DataError):
    """No source could supply a data set; the message lists every source tried, why it failed, and the fix."""


# --- matrices, runs and their records ------------------------------------------------------------------------------


class MatrixFileError(FwcompareError):
    """A TOML matrix file cannot be read or has an unknown key or value; the message lists what is valid."""


class RunTooLargeError(FwcompareError):
    """A run would not fit in memory, or asks for an absurd amount of training."""


class RunDirectoryError(FwcompareError):
    """A run directory cannot be used for this run (it holds another matrix, or cannot be written)."""


class RunDirectoryBusyError(FwcompareError):
    """Another process holds a run directory's lock."""


class RecordError(FwcompareError):
    """A stored cell record cannot be read: not a JSON object, another schema, or a field missing or of the wrong
    kind. The message names the field."""


class RunRecordError(FwcompareError):
    """A run directory or one of its records is missing or cannot be read (for a report)."""


class RunsNotComparableError(FwcompareError):
    """Two run directories cannot be compared: different data sets or preprocessing, or no cell in common."""
