"""The one-laptop stack: local broker, migrations, and `pulse up | down | status | run`."""
