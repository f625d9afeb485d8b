"""The process node agent: registers a Node and runs each pod's containers as local processes."""
