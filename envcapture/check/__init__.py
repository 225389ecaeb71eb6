"""Branches off after resolution: declared requirements vs. what the code imports (EC001-EC006), the pre-commit hook."""
