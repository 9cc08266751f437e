"""`python -m xiaoyuan` is the `xiaoyuan` command."""

from xiaoyuan.cli import main

main()
