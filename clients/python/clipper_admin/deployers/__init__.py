"""Clipper's deployer modules; ``python`` deploys Python closures (``from clipper_admin.deployers import python``)."""
