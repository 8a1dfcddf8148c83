"""The repository: a work tree or a Git revision as files with Git blob ids (tree), and the work tree
against Git's index (gitindex)."""
