"""tokattn: how the tokenizer changes what a language model attends to."""

__version__ = "0.1.0"
