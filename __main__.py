"""`python -m logship`: the same command line as the `logship` console script."""

from logship.cli import main

main()
