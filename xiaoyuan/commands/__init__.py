"""CLI command modules: each module attaches its commands to `xiaoyuan.cli.cli`."""
