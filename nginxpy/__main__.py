import sys

from nginxpy.cli import main

sys.exit(main())
