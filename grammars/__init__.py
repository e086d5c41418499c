"""grammars package."""
