"""The ``csscore`` command line: thin commands over the runtime and the pipeline."""
