"""Content inspection: the implementation of the engine's ``ContentInspector`` port."""
