"""The ``lambda-admm`` commands."""
