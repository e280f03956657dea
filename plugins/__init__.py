"""ablate's built-in plugins: registered by module name (``ablate.plugins.BUILTINS``), with
the same hooks and contracts a third-party plugin uses."""
