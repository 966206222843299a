"""What is stormed: the user's own servers and the real SDK releases.

Owns the `--target NAME=COMMAND|URL` specs (spec.py: loopback checks, health path, caps) and the
cached virtual environments of SDK releases (sdk_envs.py).

May import: observe, process, report, verdict. Never: storm or commands.
"""
