"""Worked examples: custom search spaces plugged into nasengine with no engine edits."""
