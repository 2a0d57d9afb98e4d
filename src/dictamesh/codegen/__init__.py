"""Code and document generators (``dictamesh codegen ...``)."""
