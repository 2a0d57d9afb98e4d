"""The event router (``docs/router.md``): rules that match events, transform them and route
them to target topics, run as a node role (``dictamesh serve --role router``)."""
