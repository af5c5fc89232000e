"""The one base class of FastSAM2's input errors."""


class InputError(ValueError):
    """Bad user input (files, masks, prompts, settings): the message names the problem and the fix.

    Each family's API raises its own subclass (``InpaintInputError``,
    ``TrackingInputError``, ``PaletteMaskError``, ``VOSDataError``, ...); tools
    catch ``InputError`` and print the message as one line.
    """
