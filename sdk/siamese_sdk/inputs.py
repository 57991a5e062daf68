"""Compatibility alias: moved to siamese_sdk.format.inputs."""

from .format.inputs import (  # noqa: F401
    INPUT_KINDS,
    LENGTHS,
    TOKENIZER_FILE,
    TOKENS,
    Feed,
    ImageInput,
    InputSpec,
    Preprocess,
    TextInput,
    input_from_dict,
)
